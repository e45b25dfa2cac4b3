"""Convert recorded ROS 2 bags (MCAP) into the dataset format; no ROS install needed.

    python -m vla_learning.mcap_import BAG.mcap [BAG2.mcap ...] --out data/from_bags [--task-name walk_to]
    # a bag directory from `ros2 bag record -s mcap` works too (its *.mcap files are read in order)

Reads the topics the recorder node records (names configurable): ``/camera/image_raw``
(sensor_msgs/Image), ``/vla/command`` (std_msgs/String), ``/joint_states`` (JointState),
``/odom`` (nav_msgs/Odometry, optional), ``/scan`` (sensor_msgs/LaserScan, with ``--range-sectors``), ``/cmd_vel`` (Twist) and ``/joint_commands`` (JointState), decoded with ``mcap-ros2-support``
(the schemas are stored in the bag). Messages are replayed in log-time order through the same
:class:`~vla_learning.recording.EpisodeRecorder` the live recorder uses, ticking at ``--rate`` Hz
of bag time, so a bag and a live recording give the same episodes.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vla_common.image_conversion import ImageDecodeError, image_msg_to_rgb
from vla_inference.messages import base_pose, planar_scan
from vla_learning.recording import EpisodeRecorder, RecorderConfig, make_writer, twist_tuple
from vla_core.embodiment import load_embodiment

DEFAULT_TOPICS = {'image': '/camera/image_raw', 'command': '/vla/command', 'joint_states': '/joint_states',
                  'odom': '/odom', 'scan': '/scan', 'cmd_vel': '/cmd_vel', 'joint_commands': '/joint_commands'}


def _mcap_files(paths) -> list[Path]:
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            files += sorted(p.glob('*.mcap'))
        elif p.is_file():
            files.append(p)
        else:
            raise FileNotFoundError(f"'{p}' is neither an MCAP file nor a bag directory")
    if not files:
        raise FileNotFoundError(f'no .mcap files in {list(map(str, paths))}')
    return files


def import_bags(paths, out: str | Path, *, topics: dict[str, str] | None = None, rate_hz: float = 10.0,
                image_size: int = 64, task_name: str = '', embodiment: str = 'vla_humanoid',
                val_fraction: float = 0.1, range_sectors: int = 0) -> dict:
    """Convert bags into (new or existing) dataset ``out``; returns counts."""
    from mcap.reader import make_reader               # lazy: optional, only to read bags
    from mcap_ros2.decoder import DecoderFactory

    topics = dict(DEFAULT_TOPICS, **(topics or {}))
    if not range_sectors:
        topics.pop('scan')                             # not recorded: not decoded
    emb = load_embodiment(embodiment)
    writer = make_writer(out, emb, image_size, range_sectors)
    rec = EpisodeRecorder(emb, writer.add_episode, RecorderConfig(image_size=image_size, source='mcap',
                                                                  range_sectors=range_sectors), task_name)
    period = 1.0 / rate_hz
    counts = {'messages': 0, 'images_rejected': 0}
    by_topic = {v: k for k, v in topics.items()}
    next_tick = None
    for path in _mcap_files(paths):
        with open(path, 'rb') as f:
            reader = make_reader(f, decoder_factories=[DecoderFactory()])
            for schema, channel, message, msg in reader.iter_decoded_messages(topics=list(topics.values()),
                                                                              log_time_order=True):
                t = message.log_time * 1e-9
                if next_tick is None:
                    next_tick = t
                while next_tick <= t:          # the recorder's timer, in bag time
                    rec.tick(next_tick)
                    next_tick += period
                kind = by_topic.get(channel.topic)
                counts['messages'] += 1
                if kind == 'image':
                    try:
                        rec.on_image(image_msg_to_rgb(msg), t)
                    except ImageDecodeError:
                        counts['images_rejected'] += 1
                elif kind == 'command':
                    rec.on_instruction(msg.data, t)
                elif kind == 'joint_states':
                    rec.on_joint_states(msg.name, msg.position)
                elif kind == 'odom':
                    rec.on_odometry(base_pose(msg))
                elif kind == 'scan':
                    rec.on_scan(planar_scan(msg))
                elif kind == 'cmd_vel':
                    rec.on_cmd_vel(twist_tuple(msg), t)
                elif kind == 'joint_commands':
                    rec.on_joint_command(msg.name, msg.position)
    if next_tick is not None:
        rec.tick(next_tick)
    rec.finish()
    writer.close(val_fraction=val_fraction)
    counts.update(episodes=rec.episodes_written, dropped=rec.episodes_dropped, frames_skipped=rec.frames_skipped)
    return counts


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog='python -m vla_learning.mcap_import', description=__doc__.split('\n\n')[0])
    ap.add_argument('bags', nargs='+', help='MCAP files or bag directories')
    ap.add_argument('--out', required=True, help='dataset directory (created, or appended to)')
    ap.add_argument('--rate', type=float, default=10.0, help='frames per second of bag time')
    ap.add_argument('--image-size', type=int, default=64)
    ap.add_argument('--task-name', default='', help='task_name column of the episodes (e.g. walk_to)')
    ap.add_argument('--embodiment', default='vla_humanoid')
    ap.add_argument('--range-sectors', type=int, default=0, help='record /scan as the nearest range in this many '
                    'sectors (observation.range_sectors), for a model with as many model.range_sectors; 0 = not')
    for k, v in DEFAULT_TOPICS.items():
        ap.add_argument(f"--{k.replace('_', '-')}-topic", default=v)
    args = ap.parse_args(argv)
    topics = {k: getattr(args, f'{k}_topic') for k in DEFAULT_TOPICS}
    counts = import_bags(args.bags, args.out, topics=topics, rate_hz=args.rate, image_size=args.image_size,
                         task_name=args.task_name, embodiment=args.embodiment, range_sectors=args.range_sectors)
    print(f"{args.out}: {counts['episodes']} episodes written ({counts['dropped']} too short), "
          f"{counts['messages']} messages read, {counts['images_rejected']} images rejected")
    return 0


if __name__ == '__main__':
    sys.exit(main())
