"""Escape attempts against SandboxExecutor: each must fail safely and leave the sandbox healthy.

Every attack program is written to *succeed visibly* if the isolation fails (it puts what it
obtained into ``ans`` or reaches a line that reports success), and otherwise lets its error
propagate. The harness checks the verdict, that nothing forbidden leaked into the result, any
host-side side effect, and that the same worker then runs a benign call correctly.
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from langchain_latm.sandbox import SandboxExecutor
from langchain_latm.schemas import ExecutionResult

ROOT = Path(__file__).resolve().parents[2]
SECRET = "latm-test-secret-" + secrets.token_hex(8)
HOST_MARKER = "host-only-marker-" + secrets.token_hex(8)
OUTSIDE_NAME = "latm-escape-" + uuid.uuid4().hex
TIMEOUT = 2.0


@dataclass
class Attack:
    name: str
    code: str
    # allowed verdicts: None = any failure; "ok-harmless" = may succeed, checked by `check`
    errors: tuple[str, ...] | None = None
    may_succeed: bool = False
    check: Callable[[ExecutionResult], bool] | None = None
    host_check: Callable[[], bool] | None = None
    forbidden: tuple[str, ...] = field(default=())


@pytest.fixture(scope="module")
def host_secret_file() -> Iterator[Path]:
    os.environ["LATM_SANDBOX_TEST_SECRET"] = SECRET
    fd, name = tempfile.mkstemp(prefix="latm-host-marker-")
    os.write(fd, HOST_MARKER.encode())
    os.close(fd)
    os.chmod(name, 0o644)  # world-readable: only the sandbox layers can keep it out
    yield Path(name)
    os.unlink(name)
    os.environ.pop("LATM_SANDBOX_TEST_SECRET", None)


@pytest.fixture(scope="module")
def ex(host_secret_file: Path) -> Iterator[SandboxExecutor]:
    # the host has the secret in its environment before the worker starts
    assert os.environ["LATM_SANDBOX_TEST_SECRET"] == SECRET
    with SandboxExecutor(timeout=TIMEOUT) as executor:
        executor.start()
        yield executor


def _no_outside_file() -> bool:
    return not Path("/tmp", OUTSIDE_NAME).exists() and not (ROOT / OUTSIDE_NAME).exists()


def _attacks(marker_path: str) -> list[Attack]:
    host_pid = os.getpid()
    return [
        # ---- files ------------------------------------------------------------------------
        Attack("read_etc_passwd", "ans = open('/etc/passwd').read()", ("PermissionError",)),
        Attack("read_etc_shadow", "ans = open('/etc/shadow').read()"),
        Attack("read_shared_design", "ans = open('/work/shared/DESIGN.md').read()"),
        Attack("read_project_file", f"ans = open({str(ROOT / 'pyproject.toml')!r}).read()"),
        Attack("read_world_readable_host_tmp_file", f"ans = open({marker_path!r}).read()"),
        Attack("list_root_dir", "import os\nans = os.listdir('/')"),
        Attack("list_home_dirs", "import os\nans = os.listdir('/root') + os.listdir('/home')"),
        Attack("list_project_dir", f"import os\nans = os.listdir({str(ROOT)!r})"),
        Attack("relative_traversal", "ans = open('../../../../../../etc/passwd').read()"),
        Attack("chdir_root_then_relative",
               "import os\nos.chdir('/')\nans = open('etc/hostname').read()"),
        Attack("symlink_to_passwd",
               "import os\nos.symlink('/etc/passwd', 'link')\nans = open('link').read()"),
        Attack("hardlink_to_passwd",
               "import os\nos.link('/etc/passwd', 'hl')\nans = open('hl').read()"),
        Attack("symlink_dir_escape",
               f"import os\nos.symlink({str(ROOT)!r}, 'proj')\nans = os.listdir('proj')"),
        Attack("write_outside_tmp",
               f"open('/tmp/{OUTSIDE_NAME}', 'w').write('x')\nans = 'ESCAPED'",
               host_check=_no_outside_file),
        Attack("write_into_project",
               f"open({str(ROOT / OUTSIDE_NAME)!r}, 'w').write('x')\nans = 'ESCAPED'",
               host_check=_no_outside_file),
        Attack("proc_self_environ", "ans = open('/proc/self/environ', 'rb').read().decode()"),
        Attack("proc_1_environ", "ans = open('/proc/1/environ', 'rb').read().decode()"),
        Attack("proc_parent_environ",
               "import os\nans = open(f'/proc/{os.getppid()}/environ', 'rb').read().decode()"),
        Attack("proc_host_cmdline_and_environ",
               f"ans = open('/proc/{host_pid}/environ', 'rb').read().decode()"),
        Attack("os_environ_has_no_secret",
               "import os\nans = dict(os.environ)", may_succeed=True,
               check=lambda r: r.answer == {}),
        Attack("dev_mem", "ans = open('/dev/mem', 'rb').read(16).hex()"),
        Attack("list_dev", "import os\nans = os.listdir('/dev')"),
        Attack("import_project_package",
               f"import sys\nsys.path.insert(0, {str(ROOT)!r})\nimport langchain_latm\n"
               "ans = langchain_latm.__file__"),
        Attack("chown_chmod_tmp", "import os\nos.chmod('/tmp', 0o777)\nans = 'ESCAPED'"),
        # every call runs as the same uid, and Landlock does not cover modes, times or xattrs:
        # one call must not be able to lock or mark a directory another call will get
        Attack("chmod_own_dir", "import os\nos.chmod('.', 0o777)\nans = 'ESCAPED'",
               ("PermissionError",)),
        Attack("utime_own_dir", "import os\nos.utime('.', (0, 0))\nans = 'ESCAPED'",
               ("PermissionError",)),
        Attack("setxattr_own_dir", "import os\nos.setxattr('.', 'user.mark', b'1')\n"
               "ans = 'ESCAPED'", ("PermissionError",)),
        # ---- network ------------------------------------------------------------------------
        Attack("socket_create", "import socket\ns = socket.socket()\nans = 'ESCAPED'"),
        Attack("socket_connect_loopback",
               "import socket\nsocket.create_connection(('127.0.0.1', 22), timeout=1)\n"
               "ans = 'ESCAPED'"),
        Attack("unix_socket", "import socket\ns = socket.socket(socket.AF_UNIX)\n"
               "s.connect('/run/docker.sock')\nans = 'ESCAPED'"),
        Attack("urllib", "import urllib.request\n"
               "ans = urllib.request.urlopen('http://example.com', timeout=1).read().decode()"),
        Attack("dns_lookup", "import socket\nans = socket.getaddrinfo('example.com', 80)"),
        Attack("raw_socket_syscall_ctypes",
               "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
               "fd = libc.syscall(41, 2, 1, 0)\n"
               "if fd < 0: raise OSError(ctypes.get_errno(), 'socket')\nans = 'ESCAPED'"),
        # ---- processes ------------------------------------------------------------------------
        Attack("os_fork", "import os\npid = os.fork()\nans = 'ESCAPED'"),
        Attack("subprocess_run", "import subprocess\n"
               "ans = subprocess.run(['id'], capture_output=True).stdout.decode()"),
        Attack("os_system", "import os\nrc = os.system('touch /tmp/x')\n"
               "if rc != 0: raise RuntimeError(rc)\nans = 'ESCAPED'"),
        Attack("os_popen", "import os\nans = os.popen('id').read()\nassert ans"),
        Attack("os_execv", "import os\nos.execv('/bin/sh', ['sh', '-c', 'id'])"),
        Attack("posix_spawn", "import os\nans = os.posix_spawn('/bin/true', ['true'], {})"),
        Attack("multiprocessing", "import multiprocessing as mp\np = mp.Process(target=print)\n"
               "p.start()\np.join()\nans = 'ESCAPED'"),
        Attack("pty_fork", "import pty\npid, fd = pty.fork()\nans = 'ESCAPED'"),
        Attack("ctypes_libc_system",
               "import ctypes\nrc = ctypes.CDLL(None).system(b'id')\n"
               "if rc != 0: raise RuntimeError(rc)\nans = 'ESCAPED'"),
        Attack("ctypes_libc_fork",
               "import ctypes\npid = ctypes.CDLL(None).fork()\n"
               "if pid < 0: raise RuntimeError(pid)\nans = 'ESCAPED'"),
        Attack("fork_bomb", "import os\nwhile True:\n    os.fork()"),
        # ---- resources ------------------------------------------------------------------------
        Attack("memory_bomb", "x = 'a' * (2 ** 34)\nans = len(x)", ("MemoryError",)),
        Attack("memory_growth", "l = []\nwhile True:\n    l.append(bytearray(10 ** 7))",
               ("MemoryError",)),
        Attack("infinite_loop", "while True:\n    pass", ("Timeout",)),
        Attack("sleep_forever", "import time\ntime.sleep(10 ** 6)", ("Timeout",)),
        Attack("cpu_burn_threads",
               "import threading\ndef spin():\n    while True: pass\n"
               "for _ in range(8): threading.Thread(target=spin, daemon=True).start()\n"
               "spin()", ("Timeout",)),
        Attack("thread_outlives_answer",
               "import threading, time\ndef spin():\n    while True: time.sleep(0.01)\n"
               "threading.Thread(target=spin).start()\nans = 1",
               may_succeed=True, check=lambda r: r.answer == 1),
        Attack("many_threads",
               "import threading, time\nts = []\nfor _ in range(10000):\n"
               "    t = threading.Thread(target=time.sleep, args=(5,), daemon=True)\n"
               "    t.start()\n    ts.append(t)\nans = len(ts)"),
        Attack("huge_output", "print('x' * 10 ** 7)\nans = 1", may_succeed=True,
               check=lambda r: r.answer == 1 and len(r.stdout) < 70_000
               and "truncated" in r.stdout),
        Attack("raw_fd_output",
               "import os\nos.write(1, b'y' * 10 ** 6)\nos.write(2, b'z')\nans = 1",
               may_succeed=True, check=lambda r: r.answer == 1 and "y" not in r.stdout),
        Attack("deep_recursion", "def f(n): return f(n + 1)\nans = f(0)", ("RecursionError",)),
        Attack("deep_recursion_raised_limit",
               "import sys\nsys.setrecursionlimit(10 ** 7)\ndef f(n): return f(n + 1)\n"
               "ans = f(0)"),
        Attack("huge_file", "with open('big', 'wb') as fh:\n"
               "    for _ in range(100): fh.write(b'x' * 2 ** 20)\nans = 'ESCAPED'"),
        Attack("many_open_files", "fs = [open(f'f{i}', 'w') for i in range(100000)]\n"
               "ans = 'ESCAPED'"),
        Attack("setrlimit_raise_memory",
               "import resource\nresource.setrlimit(resource.RLIMIT_AS, (-1, -1))\n"
               "ans = 'ESCAPED'"),
        Attack("setrlimit_raise_files",
               "import resource\nresource.setrlimit(resource.RLIMIT_NOFILE, (10 ** 5, 10 ** 5))"
               "\nans = 'ESCAPED'"),
        # ---- signals and tracing ----------------------------------------------------------------
        Attack("kill_parent", "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\n"
               "ans = 'ESCAPED'"),
        Attack("killpg_parent", "import os, signal\n"
               "os.killpg(os.getpgid(os.getppid()), signal.SIGKILL)\nans = 'ESCAPED'"),
        Attack("kill_everything", "import os, signal\nos.kill(-1, signal.SIGKILL)\n"
               "ans = 'ESCAPED'"),
        Attack("kill_init", "import os, signal\nos.kill(1, signal.SIGTERM)\nans = 'ESCAPED'"),
        Attack("kill_host_process", f"import os, signal\nos.kill({host_pid}, signal.SIGTERM)\n"
               "ans = 'ESCAPED'"),
        Attack("ptrace_parent",
               "import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\n"
               "if libc.ptrace(16, os.getppid(), 0, 0) != 0:\n"
               "    raise OSError(ctypes.get_errno(), 'ptrace')\nans = 'ESCAPED'"),
        Attack("process_vm_readv",
               "import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\n"
               "if libc.syscall(310, os.getppid(), 0, 0, 0, 0, 0) < 0:\n"
               "    raise OSError(ctypes.get_errno(), 'process_vm_readv')\nans = 'ESCAPED'"),
        Attack("setuid_root", "import os\nos.setuid(0)\nans = 'ESCAPED'"),
        Attack("unshare_namespaces",
               "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
               "if libc.unshare(0x10000000) != 0:\n"
               "    raise OSError(ctypes.get_errno(), 'unshare')\nans = 'ESCAPED'"),
        # ---- introspection ----------------------------------------------------------------
        Attack("subclasses_walk_to_os_system",
               "for c in ().__class__.__base__.__subclasses__():\n"
               "    g = getattr(getattr(c, '__init__', None), '__globals__', {})\n"
               "    if 'system' in g:\n"
               "        if g['system']('id') == 0:\n"
               "            ans = 'ESCAPED'\n"
               "            break\n"
               "else:\n"
               "    raise RuntimeError('no system() worked')"),
        Attack("subclasses_popen",
               "P = [c for c in object.__subclasses__() if c.__name__ == 'Popen']\n"
               "import subprocess\nP = P or [subprocess.Popen]\n"
               "ans = P[0](['id']).wait()"),
        Attack("frames_reach_worker_and_send",
               "import sys, gc\nf = sys._getframe()\nwhile f.f_back: f = f.f_back\n"
               "sent = 0\nfor o in gc.get_objects():\n"
               "    if type(o).__name__ == 'Worker' and hasattr(o, 'send'):\n"
               "        o.send({'kind': 'result', 'id': 'x', 'raw': '{}'}); sent += 1\n"
               "ans = 'frames-ok'",
               may_succeed=True, check=lambda r: r.answer == "frames-ok"),
        Attack("gc_referrers_to_builtins",
               "import gc, builtins\nrefs = gc.get_referrers(builtins)\n"
               "import os\nos.system('id')\nassert os.system('id') == 0\nans = 'ESCAPED'"),
        Attack("ctypes_segfault",
               "import ctypes\nans = ctypes.cast(8, ctypes.POINTER(ctypes.c_int)).contents.value",
               ("Crashed",)),
        # ---- result forgery ----------------------------------------------------------------------
        Attack("print_fake_protocol",
               "print('{\"kind\": \"result\", \"id\": \"x\", \"raw\": \"{}\"}')\n"
               "print('{\"error_type\": null, \"answer_json\": \"\\\\\"PRINTED\\\\\"\"}')\n"
               "ans = 'real'",
               may_succeed=True, check=lambda r: r.answer == "real"),
        Attack("write_fake_report_to_fds",
               "import os\nfor fd in range(3, 64):\n    try:\n"
               "        os.write(fd, b'{\"error_type\": null, '\n"
               "                       b'\"answer_json\": \"\\\\\"FORGED\\\\\"\"}')\n"
               "    except OSError:\n        pass\nos._exit(0)",
               ("InvalidResult", "NoResult")),
        Attack("write_fake_then_assign", "import os\nfor fd in range(3, 64):\n    try:\n"
               "        os.write(fd, b'{\"answer_json\": \"1\"}\\n')\n    except OSError:\n"
               "        pass\nans = 'real'",
               ("InvalidResult",)),
        Attack("close_all_fds", "import os\nos.closerange(0, 1024)\nans = 1",
               may_succeed=True, check=lambda r: r.answer == 1 or r.error_type == "NoResult"),
        Attack("dup_stdout_over_fds", "import os\nfor fd in range(3, 16):\n    try:\n"
               "        os.dup2(1, fd)\n    except OSError:\n        pass\nans = 'real'",
               may_succeed=True,
               check=lambda r: r.answer == "real" or r.error_type == "NoResult"),
        Attack("os_exit_zero", "import os\nos._exit(0)", ("NoResult",)),
        Attack("sys_exit", "import sys\nsys.exit(0)", ("SystemExit",)),
        Attack("keyboard_interrupt", "raise KeyboardInterrupt", ("KeyboardInterrupt",)),
        Attack("custom_base_exception", "class Boom(BaseException): pass\nraise Boom('x')",
               ("Boom",)),
        Attack("hostile_exception_str",
               "class E(Exception):\n    def __str__(self): raise RuntimeError('no')\nraise E()",
               ("E",)),
        Attack("exception_str_loops", "class E(Exception):\n    def __str__(self):\n"
               "        while True: pass\nraise E()", ("Timeout",)),
        Attack("kill_self", "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)",
               ("Crashed",)),
        Attack("clear_parent_death_signal",
               "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
               "if libc.prctl(1, 0, 0, 0, 0) != 0: raise OSError(ctypes.get_errno(), 'prctl')\n"
               "ans = 'ESCAPED'", ("OSError", "PermissionError")),
        Attack("terminal_injection_is_refused_by_seccomp",
               "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
               "c = ctypes.c_char(b'x')\nrc = libc.ioctl(0, 0x5412, ctypes.byref(c))\n"
               "ans = [rc, ctypes.get_errno()]",  # TIOCSTI: EPERM, not just "not a tty"
               may_succeed=True, check=lambda r: r.answer == [-1, 1]),
        Attack("make_self_dumpable",
               "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
               "if libc.prctl(4, 1, 0, 0, 0) != 0: raise OSError(ctypes.get_errno(), 'prctl')\n"
               "ans = 'ESCAPED'", ("OSError", "PermissionError")),
        # scheduling: other calls run as the same uid (and, without root, so does the host)
        Attack("renice_every_process_of_the_uid",
               "import os\nos.setpriority(os.PRIO_USER, 0, 19)\nans = 'ESCAPED'",
               ("PermissionError",)),
        Attack("pin_the_worker", "import os\nos.sched_setaffinity(os.getppid(), {0})\n"
               "ans = 'ESCAPED'", ("PermissionError",)),
        Attack("idle_the_host", f"import os\nos.sched_setscheduler({host_pid}, os.SCHED_IDLE, "
               "os.sched_param(0))\nans = 'ESCAPED'", ("PermissionError",)),
        # channels between calls that Landlock and the network namespace do not cover
        Attack("sysv_shared_memory_outlives_the_call",
               "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
               "if libc.shmget(0x5eed, 4096, 0o1666) < 0:\n"
               "    raise OSError(ctypes.get_errno(), 'shmget')\nans = 'ESCAPED'",
               ("PermissionError",)),
        Attack("sysv_message_queue", "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
               "if libc.msgget(0x5eed, 0o1666) < 0:\n"
               "    raise OSError(ctypes.get_errno(), 'msgget')\nans = 'ESCAPED'",
               ("PermissionError",)),
        Attack("sysv_semaphore", "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
               "if libc.semget(0x5eed, 1, 0o1666) < 0:\n"
               "    raise OSError(ctypes.get_errno(), 'semget')\nans = 'ESCAPED'",
               ("PermissionError",)),
        Attack("posix_message_queue", "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
               "if libc.syscall(240, b'latm', 0o102, 0o600, None) < 0:\n"
               "    raise OSError(ctypes.get_errno(), 'mq_open')\nans = 'ESCAPED'",
               ("PermissionError",)),
        Attack("datagram_socket_to_a_path", "import socket\n"
               "a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)\n"
               "a.sendto(b'x', '/dev/log')\nans = 'ESCAPED'", ("PermissionError",)),
        Attack("name_a_socket_for_other_calls", "import os, socket\na, b = socket.socketpair()\n"
               "a.bind(os.getcwd() + '/s')\nans = 'ESCAPED'", ("PermissionError",)),
        Attack("watch_other_calls_files",
               "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
               "if libc.inotify_init1(0) < 0:\n"
               "    raise OSError(ctypes.get_errno(), 'inotify_init1')\nans = 'ESCAPED'",
               ("PermissionError",)),
        Attack("memory_files_beyond_the_memory_limit",
               "import os\nfds = [os.memfd_create(f'm{i}') for i in range(60)]\n"
               "for fd in fds:\n    os.write(fd, b'x' * (16 << 20))\nans = 'ESCAPED'",
               ("PermissionError",)),
        Attack("swap_json_encoder",
               "import json\njson.dumps = lambda *a, **k: '\"FORGED\"'\nans = 'real'",
               may_succeed=True, check=lambda r: r.answer == "real"),
    ]


def _attack_list() -> list[Attack]:
    return _attacks("/tmp/placeholder")


ATTACK_NAMES = [a.name for a in _attack_list()]


def test_there_are_at_least_forty_attacks() -> None:
    assert len(ATTACK_NAMES) >= 40
    assert len(set(ATTACK_NAMES)) == len(ATTACK_NAMES)


@pytest.mark.parametrize("name", ATTACK_NAMES)
def test_escape_attempt_fails_safely(ex: SandboxExecutor, host_secret_file: Path,
                                     name: str) -> None:
    attack = next(a for a in _attacks(str(host_secret_file)) if a.name == name)
    worker_pid = ex.worker_pid
    res = ex.run("", attack.code, timeout=TIMEOUT)
    dump = json.dumps(res.model_dump())
    # nothing secret leaked, whatever the verdict
    for forbidden in (SECRET, HOST_MARKER, "root:x:0:0", "[build-system]", "# langchain-latm",
                      "ESCAPED", "FORGED", "uid=", *attack.forbidden):
        assert forbidden not in dump, f"{name}: leaked {forbidden!r}: {dump[:500]}"
    if attack.may_succeed:
        assert attack.check is not None
        assert attack.check(res), f"{name}: {dump[:500]}"
    else:
        assert not res.ok, f"{name} was not contained: {dump[:500]}"
        if attack.errors is not None:
            assert res.error_type in attack.errors, f"{name}: {res.error}"
    if attack.host_check is not None:
        assert attack.host_check(), f"{name}: host-side effect observed"
    assert res.duration_s < TIMEOUT + 3.0
    # the sandbox is still healthy: same worker, correct answer, nothing left running
    after = ex.run("def f(x): return x * 7", "ans = f(6)")
    assert after.ok and after.answer == 42, after.error
    assert ex.worker_pid == worker_pid, "the worker died"
    from tests.unit.test_sandbox import call_children

    assert call_children(ex) == []
    # the process that ran the health check is gone once run() has returned
    probe = ex.run("import os", "ans = os.getpid()")
    assert probe.ok
    with pytest.raises(ProcessLookupError):
        os.kill(int(probe.answer), 0)


# ---------------------------------------------------------------------------- cross-call poisoning
POISON = [
    ("builtins", "import builtins\nbuiltins.sorted = lambda *a, **k: ['POISON']\n"
     "builtins.print = None\nans = 1", "print('p')\nans = sorted([2, 1])", [1, 2]),
    ("json_dumps", "import json\njson.dumps = lambda *a, **k: '\"POISON\"'\n"
     "json.loads = lambda *a, **k: 'POISON'\nans = 1",
     "import json\nans = [json.loads(json.dumps([1]))]", [[1]]),
    ("sys_modules", "import sys, types\nfake = types.ModuleType('math')\nfake.sqrt = lambda x: -1\n"
     "sys.modules['math'] = fake\nans = 1", "import math\nans = math.sqrt(16)", 4.0),
    ("module_attribute", "import math\nmath.pi = 3\nans = 1",
     "import math\nans = round(math.pi, 5)",
     3.14159),
    ("os_environ", "import os\nos.environ['POISON'] = '1'\nos.putenv('POISON2', '1')\nans = 1",
     "import os\nans = sorted(os.environ)", []),
    ("tmp_files", "open('persist.txt', 'w').write('x')\nimport os\nos.mkdir('d')\nans = 1",
     "import os\nans = os.listdir('.')", []),
    ("tempfile_dir", "import tempfile\nf = tempfile.NamedTemporaryFile(delete=False)\n"
     "f.write(b'x'); f.close()\nans = f.name",
     "import tempfile, os\nans = os.listdir(tempfile.gettempdir())", []),
    ("recursion_limit", "import sys\nsys.setrecursionlimit(30)\nans = 1",
     "import sys\nans = sys.getrecursionlimit()", 1000),
    ("main_globals", "GLOBAL_X = 1\nans = 1", "ans = 'GLOBAL_X' in globals()", False),
    ("sys_path", "import sys\nsys.path.insert(0, '/evil')\nans = 1",
     "import sys\nans = '/evil' in sys.path", False),
    ("background_thread", "import threading, time\n"
     "def w():\n    while True:\n        open('late.txt', 'w').write('x'); time.sleep(0.001)\n"
     "threading.Thread(target=w, daemon=True).start()\nans = 1",
     "import os, time\ntime.sleep(0.05)\nans = os.listdir('.')", []),
    ("stdout_swap", "import sys, io\nsys.stdout = io.StringIO()\nans = 1",
     "print('visible')\nans = 1", 1),
]


@pytest.mark.parametrize(("first", "second", "expected"), [p[1:] for p in POISON],
                         ids=[p[0] for p in POISON])
def test_cross_call_poisoning_does_not_leak(ex: SandboxExecutor, first: str, second: str,
                                            expected: object) -> None:
    poisoned = ex.run("", first)
    assert poisoned.ok or poisoned.error_type is not None
    res = ex.run("", second)
    assert res.ok, res.error
    assert res.answer == expected


def test_stdout_of_next_call_is_clean_after_swap(ex: SandboxExecutor) -> None:
    ex.run("import sys, io\nsys.stdout = io.StringIO()", "ans = 1")
    res = ex.run("print('visible')", "ans = 1")
    assert res.stdout == "visible\n"


# A later call runs in a fork of the worker: whatever the worker's memory held (even freed)
# it can read by scanning its own heap. Earlier calls' code and results must not be there.
_HEAP_SCAN = r'''
import ctypes, gc, os, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.write.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t]
libc.write.restype = ctypes.c_ssize_t
pr, pw = os.pipe()
def mapped(address):
    ok = libc.write(pw, address, 1) == 1   # EFAULT, not SIGSEGV, on an unmapped page
    if ok:
        os.read(pr, 1)
    return ok
PAGE = 4096
# a secret counts only with the byte that follows it where it leaked (the needles built
# here are followed by other bytes, so they never find themselves)
needles = [((PREFIX + kind + TOKEN).encode(), suffix) for kind, suffix in KINDS]
hits, seen = [], set()
for anchor in [id(o) for o in (bytearray(3000), 'x' * 3000, gc, sys, os)]:
    start = anchor & ~(PAGE - 1)
    lo = hi = start
    while mapped(lo - PAGE) and start - lo < (64 << 20):
        lo -= PAGE
    while mapped(hi) and hi - start < (64 << 20):
        hi += PAGE
    if (lo, hi) in seen:
        continue
    seen.add((lo, hi))
    data = ctypes.string_at(lo, hi - lo)
    for needle, suffix in needles:
        at = data.find(needle)
        while at >= 0:
            end = at + len(needle)
            if data[end:end + len(suffix)] == suffix:
                hits.append((needle + suffix).decode('latin-1'))
            at = data.find(needle, at + 1)
ans = sorted(set(hits))
'''


def test_an_earlier_calls_code_and_results_are_not_in_a_later_calls_memory(
    ex: SandboxExecutor,
) -> None:
    token = secrets.token_hex(8)
    prefix = "heapsecret-"
    # each secret as it would sit in memory if it leaked: inside the call's JSON request
    # (code), or inside the child's JSON report (answer, printed output)
    kinds = [("code-", b"'"), ("answer-", b'\\"'), ("stdout-", b"\\n")]
    secret_code = f"KEY = '{prefix}code-{token}'"
    snippet = f"print('{prefix}stdout-{token}')\nans = '{prefix}answer-{token}'"
    scan = (_HEAP_SCAN.replace("PREFIX", repr(prefix)).replace("TOKEN", repr(token))
            .replace("KINDS", repr(kinds)))
    found: set[str] = set()
    for concurrent in (1, 4, 1, 4):  # concurrent calls: some spares fork while calls run
        secret = ex.run_many([(secret_code, snippet)] * concurrent)
        assert all(r.ok for r in secret), secret
        for _ in range(2):
            res = ex.run("", scan, timeout=20)
            assert res.ok, res.error
            found.update(res.answer)
    assert not found, f"a later call read earlier calls' data: {sorted(found)}"
