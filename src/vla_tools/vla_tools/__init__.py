"""Tools around the VLA suite: the demo, benchmarks, and camera and relay stand-ins for trying it out.

    demo                  the whole loop on the embedded simulator (vla_demo, scripts/demo.sh)
    benchmark             vla_benchmark: policy, gate, pipeline, memory and decode figures
      benchmark_decode    its decode + policy input part (--decode-only)
      benchmark_pipeline  its pipeline part, with the floor_relay latency floor
      benchmark_flood     its memory-under-flood part
      benchmark_observer  the in-process node its pipeline and flood runs use
    chunk_benchmark       chunked execution loops (async, blocking, ensembles) against a remote policy
      chunk_task          its reference a(t) and the policy that predicts it
      chunk_loops         the loops it compares (async, blocking, chunk queue) and their timer
      chunk_figures       its figures of one loop and its table
    policy_benchmark      latency of a policy's infer (p50 / p90 / p99 / max)
    sim_benchmark         task success of a policy in the simulator (lockstep) and its raw speed
    gate_benchmark        cost of one safety-gate decision with a 720-point scan
    floor_relay           the latency floor vla_benchmark compares the pipeline with
    synthetic_camera      camera frames without a camera

(The Gazebo bringup's relays, joint_command_relay and base_command_timeout, are vla_bringup's.)
"""
