"""A real nginx serving a directory on 127.0.0.1, started and stopped by the test.

    with nginx_serving(root, tmp_path / "nginx") as base_url:   # "http://127.0.0.1:PORT/"
        ...

The test writes its own nginx.conf (no system configuration is read or touched): one server on
a free port, the directory as its root, logs and temporary files under `work`. nginx answers
Range requests itself (206, multiple files, 416), which is what a web seed needs.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support import free_port, is_listening, require_tool, tail, wait_until

SBIN = "/usr/sbin/nginx"  # where Debian puts it: not on every user's PATH

CONF = """\
daemon off;
master_process off;
worker_processes 1;
user root;
pid {work}/nginx.pid;
error_log {work}/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log {work}/access.log;
    client_body_temp_path {work}/body;
    proxy_temp_path {work}/proxy;
    fastcgi_temp_path {work}/fastcgi;
    uwsgi_temp_path {work}/uwsgi;
    scgi_temp_path {work}/scgi;
    default_type application/octet-stream;
    sendfile on;
    server {{
        listen 127.0.0.1:{port};
        root {root};
        {extra}
    }}
}}
"""


@contextmanager
def nginx_serving(root: Path, work: Path, extra: str = "") -> Iterator[str]:
    """Serve `root` with nginx until the block ends; yields the base URL (ending in "/")."""
    nginx = shutil.which("nginx") or (SBIN if Path(SBIN).exists() else None) or require_tool("nginx")
    work.mkdir(parents=True, exist_ok=True)
    port = free_port()
    conf = work / "nginx.conf"
    conf.write_text(CONF.format(work=work, port=port, root=root.resolve(), extra=extra))
    process = subprocess.Popen([nginx, "-p", str(work), "-c", str(conf), "-e", str(work / "error.log")],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_until(lambda: is_listening(port) or process.poll() is not None, 10, "nginx to listen",
                   lambda: tail(work / "error.log"))
        if process.poll() is not None:
            raise AssertionError(f"nginx exited: {process.stderr.read().decode(errors='replace')}")
        yield f"http://127.0.0.1:{port}/"
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def access_log(work: Path) -> str:
    path = work / "access.log"
    return path.read_text() if path.exists() else ""
