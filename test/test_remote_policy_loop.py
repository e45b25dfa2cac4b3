"""A remote policy (vla-serve over the openpi protocol) behind the real nodes: when the server
goes away mid-motion, no proposal is published, and the safety node stops the robot."""
import time

import pytest

pytestmark = pytest.mark.ros

from ros_harness import QUIET, Probe, fresh_domain_id, twist_is_zero  # noqa: E402

from vla_bringup.launcher import Suite  # noqa: E402


def test_server_gone_robot_stops_and_resumes_after_reconnect():
    from vla_core.embodiment import load_embodiment
    from vla_policy.registry import make_policy
    from vla_policy.remote.server import PolicyServer
    emb = load_embodiment('vla_humanoid')
    server = PolicyServer(make_policy('keyword', emb), host='127.0.0.1', port=0, embodiment=emb)
    server.start()
    port = server.port
    domain = fresh_domain_id()
    suite = Suite({'policy': server.url}, safety={'max_linear_decel': 10.0}, domain_id=domain, quiet=QUIET)
    probe = Probe(domain)
    try:
        suite.start()
        probe.command('walk forward')
        assert probe.wait_for(lambda: (m := probe.latest(probe.cmd_vel)) is not None and m.linear.x > 0.05, 60)
        server.stop(abrupt=True)
        t0 = time.monotonic()
        assert probe.wait_for(lambda: any(twist_is_zero(m) for _, m in probe.since(probe.cmd_vel, t0)), 3)
        time.sleep(1.0)
        assert all(twist_is_zero(m) for _, m in probe.since(probe.cmd_vel, time.monotonic() - 0.5))
        assert 'proposal_timeout' in probe.latest(probe.status).reasons
        # the server comes back on the same port: the client reconnects (backoff) and motion resumes
        server = PolicyServer(make_policy('keyword', emb), host='127.0.0.1', port=port, embodiment=emb)
        server.start()
        assert probe.wait_for(lambda: (m := probe.latest(probe.cmd_vel)) is not None and m.linear.x > 0.05, 20)
        assert suite.alive('vla_inference') and suite.alive('vla_safety')
    finally:
        server.stop()
        probe.close()
        suite.stop()
