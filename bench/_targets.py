"""Local peers for benchmarks: nginx as the target, blackbox exporter as the rival, wrk as load."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
BLACKBOX = shutil.which("prometheus-blackbox-exporter") or "/usr/bin/prometheus-blackbox-exporter"
WRK = shutil.which("wrk") or "/usr/bin/wrk"
INSTALL_HINT = "apt-get install nginx-light prometheus-blackbox-exporter wrk (or: make bench-deps)"


def require(*paths: str) -> None:
    missing = [p for p in paths if not os.access(p, os.X_OK)]
    if missing:
        raise SystemExit(f"missing {', '.join(missing)}: {INSTALL_HINT}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise SystemExit(f"nothing listens on 127.0.0.1:{port}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process (and its reaped children) from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = sum(int(v) for v in fields[11:15])
    return ticks / os.sysconf("SC_CLK_TCK")


@dataclass
class Nginx:
    http_port: int
    https_port: int
    ca_file: str
    process: subprocess.Popen[bytes]


def run_nginx(root: Path, core: int, http_block: str) -> subprocess.Popen[bytes]:
    """nginx with one worker pinned to `core`, its files in `root`, no access log and no
    keep-alive (every probe a fresh connection); `http_block` holds the servers."""
    (root / "nginx.conf").write_text(
        f"""
worker_processes 1;
daemon off;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {root};
    proxy_temp_path {root};
    fastcgi_temp_path {root};
    uwsgi_temp_path {root};
    scgi_temp_path {root};
    keepalive_timeout 0;
{http_block}}}
"""
    )
    return subprocess.Popen(
        ["taskset", "-c", str(core), NGINX, "-c", str(root / "nginx.conf"), "-p", str(root)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@contextlib.contextmanager
def nginx(core: int = 0) -> Iterator[Nginx]:
    """nginx on loopback, one worker pinned to `core`, answering 200 "ok" over HTTP and HTTPS."""
    import trustme

    require(NGINX)
    with tempfile.TemporaryDirectory(prefix="upstate-bench-") as tmp:
        root = Path(tmp)
        ca = trustme.CA()
        cert = ca.issue_cert("localhost", "127.0.0.1")
        cert.private_key_and_cert_chain_pem.write_to_path(str(root / "server.pem"))
        ca.cert_pem.write_to_path(str(root / "ca.pem"))
        http_port, https_port = free_port(), free_port()
        process = run_nginx(
            root,
            core,
            f"""    ssl_session_cache off;
    ssl_session_tickets off;
    server {{
        listen 127.0.0.1:{http_port} backlog=4096;
        listen 127.0.0.1:{https_port} ssl backlog=4096;
        ssl_certificate {root}/server.pem;
        ssl_certificate_key {root}/server.pem;
        location / {{ default_type text/plain; return 200 "ok\\n"; }}
    }}
""",
        )
        try:
            wait_port(http_port)
            wait_port(https_port)
            yield Nginx(http_port, https_port, str(root / "ca.pem"), process)
        finally:
            process.terminate()
            process.wait(10)


@dataclass
class Blackbox:
    port: int
    process: subprocess.Popen[bytes]


@contextlib.contextmanager
def blackbox(ca_file: str, core: int = 1) -> Iterator[Blackbox]:
    """Prometheus blackbox exporter with http_2xx modules, pinned to `core`."""
    require(BLACKBOX)
    with tempfile.TemporaryDirectory(prefix="upstate-bench-bb-") as tmp:
        config = Path(tmp) / "blackbox.yml"
        config.write_text(
            f"""
modules:
  http_2xx:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
  https_2xx:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
      tls_config:
        ca_file: {ca_file}
"""
        )
        port = free_port()
        process = subprocess.Popen(
            [
                "taskset", "-c", str(core), BLACKBOX,
                f"--config.file={config}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--log.level=error",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            wait_port(port)
            yield Blackbox(port, process)
        finally:
            process.terminate()
            process.wait(10)


def wrk(url: str, *, connections: int, seconds: int, core: int = 0) -> int:
    """Requests completed by wrk (one thread, pinned to `core`)."""
    require(WRK)
    out = subprocess.run(
        ["taskset", "-c", str(core), WRK, "-t1", f"-c{connections}", f"-d{seconds}s", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for line in out.splitlines():
        if "requests in" in line:
            return int(line.split()[0])
    raise SystemExit(f"could not read wrk's output:\n{out}")
