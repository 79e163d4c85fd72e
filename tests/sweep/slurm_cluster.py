"""A one-node Slurm cluster on loopback for tests: munge, slurmctld and slurmd as root.

Needs Debian's slurmctld, slurmd, slurm-client and munge (``.ci/run`` installs them).
``start`` returns the environment (``SLURM_CONF``) jobs and clients need, or raises
``ClusterUnavailable`` with the reason.
"""

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

CONF = """ClusterName=bambaprof-test
SlurmctldHost=localhost(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation={d}/state
SlurmdSpoolDir={d}/spool
SlurmctldPidFile={d}/slurmctld.pid
SlurmdPidFile={d}/slurmd.pid
SlurmctldLogFile={d}/slurmctld.log
SlurmdLogFile={d}/slurmd.log
SlurmctldPort={ctld}
SlurmdPort={slurmd}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MpiDefault=none
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
NodeName=localhost NodeAddr=127.0.0.1 CPUs={cpus} RealMemory=1000 State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
"""


class ClusterUnavailable(Exception):
    pass


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ensure_munge() -> None:
    if subprocess.run(["sh", "-c", "munge -n | unmunge"], capture_output=True).returncode == 0:
        return
    key = Path("/etc/munge/munge.key")
    if not key.exists():
        key.parent.mkdir(parents=True, exist_ok=True)
        key.write_bytes(os.urandom(1024))
        os.chmod(key, 0o400)
        shutil.chown(key, "munge", "munge")
    Path("/run/munge").mkdir(parents=True, exist_ok=True)
    shutil.chown("/run/munge", "munge", "munge")
    subprocess.run(["runuser", "-u", "munge", "--", "/usr/sbin/munged"], capture_output=True)
    for _ in range(20):
        if subprocess.run(["sh", "-c", "munge -n | unmunge"], capture_output=True).returncode == 0:
            return
        time.sleep(0.25)
    raise ClusterUnavailable("munged did not start")


def start(directory: Path) -> dict:
    for tool in ("slurmctld", "slurmd", "sbatch", "munged", "munge"):
        if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists():
            raise ClusterUnavailable(f"{tool} is not installed (Debian's slurmctld, slurmd, slurm-client, munge)")
    if os.geteuid() != 0:
        raise ClusterUnavailable("starting slurmctld and slurmd needs root")
    d = Path(directory)
    for sub in ("state", "spool"):
        (d / sub).mkdir(parents=True, exist_ok=True)
    conf = d / "slurm.conf"
    conf.write_text(CONF.format(d=d, ctld=_free_port(), slurmd=_free_port(), cpus=os.cpu_count() or 1))
    _ensure_munge()
    env = dict(os.environ, SLURM_CONF=str(conf))
    subprocess.run(["/usr/sbin/slurmctld", "-c"], env=env, capture_output=True)
    subprocess.run(["/usr/sbin/slurmd", "-N", "localhost"], env=env, capture_output=True)
    for _ in range(60):
        out = subprocess.run(["sinfo", "-h", "-o", "%T"], env=env, capture_output=True, text=True).stdout.strip()
        if out == "idle":
            return env
        time.sleep(0.5)
    stop(directory)
    raise ClusterUnavailable(f"the test cluster did not come up (sinfo: {out or 'no answer'})")


def stop(directory: Path) -> None:
    for name in ("slurmd.pid", "slurmctld.pid"):
        pid_file = Path(directory) / name
        if pid_file.exists():
            try:
                os.kill(int(pid_file.read_text().strip()), 15)
            except (ValueError, ProcessLookupError):
                pass
