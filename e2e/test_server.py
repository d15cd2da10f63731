"""Tests of the launcher e2e/server.py that need no Kestra: process handling against a
stand-in server (a small Java program compiled here, answering GET /api/v1/configs on the
port the generated configuration gives), Maven failures through a stand-in ``mvn``, and
the checks on downloaded jars. What Kestra itself does is test_e2e.py's business."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import server  # noqa: E402

FAKE_APP = r"""
package io.kestra.cli;

import com.sun.net.httpserver.HttpServer;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.Base64;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

public class App {
    public static void main(String[] args) throws Exception {
        String config = null;
        for (int i = 0; i < args.length - 1; i++) if (args[i].equals("-c")) config = args[i + 1];
        String text = new String(Files.readAllBytes(Paths.get(config)), StandardCharsets.UTF_8);
        System.out.println("stand-in started with " + String.join(" ", args));
        if (System.getenv("STAND_IN_FAIL") != null) {
            System.out.println("stand-in failure: " + System.getenv("STAND_IN_FAIL"));
            System.exit(7);
        }
        if (System.getenv("STAND_IN_SILENT") != null) { Thread.sleep(600000); return; }
        Matcher port = Pattern.compile("\"server\": \\{\\s*\"port\": (\\d+)").matcher(text);
        port.find();
        HttpServer http = HttpServer.create(new InetSocketAddress("127.0.0.1", Integer.parseInt(port.group(1))), 0);
        String expected = "Basic " + Base64.getEncoder().encodeToString(
            "admin@kestra.io:Admin1234".getBytes(StandardCharsets.UTF_8));
        http.createContext("/api/v1/configs", exchange -> {
            boolean allowed = expected.equals(exchange.getRequestHeaders().getFirst("Authorization"));
            byte[] body = "{}".getBytes(StandardCharsets.UTF_8);
            exchange.sendResponseHeaders(allowed ? 200 : 401, body.length);
            exchange.getResponseBody().write(body);
            exchange.close();
        });
        http.start();
    }
}
"""

STAND_IN = server.Release(kestra="0.0.1-stand-in", java=11, python="0.0.1", serdes="0.0.1")


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("KESTRA_E2E_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def free_port() -> int:
    import socket
    while True:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        if not server.port_taken(port + 1) and not server.port_taken(port + 2):
            return port


def write_jar(path: Path, entries: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(str(path), "w") as jar:
        for name, data in entries.items():
            jar.writestr(name, data)


@pytest.fixture
def stand_in_jars(cache, tmp_path):
    """The stand-in server and two plugin jars, in the cache as if fetched."""
    javac, java = shutil.which("javac"), shutil.which("java")
    if not javac or not java:
        pytest.skip("no javac/java here to build the stand-in server")
    source = tmp_path / "src" / "io" / "kestra" / "cli" / "App.java"
    source.parent.mkdir(parents=True)
    source.write_text(FAKE_APP)
    classes = tmp_path / "classes"
    subprocess.run([javac, "--release", "11", "-d", str(classes), str(source)], check=True)
    folder = server.jar_folder(STAND_IN)
    jars = {}
    for name, coordinates in server.artifacts(STAND_IN).items():
        artifact, version = coordinates.split(":")[1:]
        path = folder / ("server" if name == "kestra" else "plugins") / ("%s-%s.jar" % (artifact, version))
        entries = {server.MARKERS.get(name, ""): b"plugin"}
        if name == "kestra":
            entries = {"META-INF/MANIFEST.MF": "Manifest-Version: 1.0\nMain-Class: io.kestra.cli.App\n"}
            for compiled in classes.rglob("*.class"):
                entries[compiled.relative_to(classes).as_posix()] = compiled.read_bytes()
        write_jar(path, entries)
        jars[name] = {"coordinates": coordinates, "sha256": server.sha256(path)}
    (folder / "manifest.json").write_text(json.dumps(jars))
    return folder


def test_start_status_stop_round_trip(stand_in_jars, monkeypatch):
    port = free_port()
    url = server.start(STAND_IN, port, timeout=60, heap="64m", log=lambda message: None)
    state = server.state_folder(STAND_IN)
    try:
        assert url == "http://127.0.0.1:%d" % port
        assert server.answer(url + "/api/v1/configs") == 200
        assert server.status(STAND_IN, log=lambda message: None) is True
        pid = int((state / "server.pid").read_text())
        command = Path("/proc/%d/cmdline" % pid).read_bytes().split(b"\0")
        assert b"standalone" in command and str(state / "config.yml").encode() in command
        config = json.loads((state / "config.yml").read_text())
        assert config["kestra"]["storage"]["local"]["base-path"] == str(state / "storage")
        assert config["endpoints"]["all"]["port"] == port + 1
        # A second start reuses the running server instead of failing on the taken port.
        assert server.start(STAND_IN, port, timeout=60, heap="64m", log=lambda message: None) == url
        assert int((state / "server.pid").read_text()) == pid
    finally:
        server.stop(STAND_IN, log=lambda message: None)
    assert not server.pid_alive(pid)
    assert not (state / "server.pid").exists()
    assert server.answer(url + "/api/v1/configs", timeout=1) is None
    assert server.status(STAND_IN, log=lambda message: None) is False


def test_start_with_jars_obtained_elsewhere(stand_in_jars, tmp_path):
    """--jar and --plugins: the files are checked where they are and used, no Maven involved."""
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(str(stand_in_jars), str(elsewhere))
    (elsewhere / "plugins" / "notes.jar").write_bytes(b"not a zip")  # ignored: not a plugin
    jars = server.local_jars(str(elsewhere / "server" / "kestra-0.0.1-stand-in.jar"), str(elsewhere / "plugins"))
    assert jars["plugin-serdes"].name == "plugin-serdes-0.0.1.jar"
    shutil.rmtree(str(stand_in_jars))  # the cache is not used
    port = free_port()
    try:
        url = server.start(STAND_IN, port, timeout=60, heap="64m", log=lambda message: None, jars=jars)
        assert server.answer(url + "/api/v1/configs") == 200
        command = Path("/proc/%d/cmdline" % server.running_pid(server.state_folder(STAND_IN))).read_bytes()
        assert str(elsewhere / "plugins").encode() + b"\0" in command
    finally:
        server.stop(STAND_IN, log=lambda message: None)


def test_jars_obtained_elsewhere_are_checked(tmp_path, capsys):
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    write_jar(tmp_path / "kestra.jar", {"META-INF/MANIFEST.MF": "Main-Class: io.kestra.cli.Kestra\n",
                                        "io/kestra/cli/Kestra.class": b"main"})
    write_jar(plugins / "python.jar", {server.MARKERS["plugin-script-python"]: b"plugin"})
    with pytest.raises(server.LauncherError, match="no jar in .* holds io/kestra/plugin/serdes"):
        server.local_jars(str(tmp_path / "kestra.jar"), str(plugins))
    with pytest.raises(server.LauncherError, match="does not exist"):
        server.local_jars(str(tmp_path / "kestra.jar"), str(tmp_path / "absent"))
    with pytest.raises(server.LauncherError, match="python.jar is not an executable jar"):
        server.local_jars(str(plugins / "python.jar"), str(plugins))
    with pytest.raises(SystemExit):
        server.main(["start", "--jar", str(tmp_path / "kestra.jar")])
    assert "--jar and --plugins" in capsys.readouterr().err


def test_a_server_that_dies_while_starting_shows_its_log(stand_in_jars, monkeypatch):
    monkeypatch.setenv("STAND_IN_FAIL", "no plugins folder")
    with pytest.raises(server.LauncherError) as caught:
        server.start(STAND_IN, free_port(), timeout=60, heap="64m", log=lambda message: None)
    message = str(caught.value)
    assert "exited with code 7" in message
    assert "stand-in failure: no plugins folder" in message


def test_a_server_that_never_answers_is_stopped_at_the_deadline(stand_in_jars, monkeypatch):
    monkeypatch.setenv("STAND_IN_SILENT", "1")
    began = time.monotonic()
    with pytest.raises(server.LauncherError) as caught:
        server.start(STAND_IN, free_port(), timeout=3, heap="64m", log=lambda message: None)
    assert time.monotonic() - began < 30
    assert "did not answer GET /api/v1/configs with 200 within 3 s" in str(caught.value)
    assert "stand-in started with server standalone -c" in str(caught.value)
    assert processes_with(str(server.state_folder(STAND_IN) / "config.yml")) == []


def processes_with(text: str) -> list:
    """PIDs whose command line holds ``text``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if text.encode() in (entry / "cmdline").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


def test_stop_leaves_a_process_that_is_not_the_server_alone(cache):
    state = server.state_folder(STAND_IN)
    state.mkdir(parents=True)
    stranger = subprocess.Popen(["sleep", "60"])
    try:
        (state / "server.pid").write_text("%d\n" % stranger.pid)  # a PID file gone stale, reused
        messages = []
        server.stop(STAND_IN, log=messages.append)
        assert stranger.poll() is None
        assert messages == ["Kestra 0.0.1-stand-in is not running"]
        assert not (state / "server.pid").exists()
    finally:
        stranger.kill()
        stranger.wait()


@pytest.fixture
def stand_in_mvn(tmp_path, monkeypatch):
    """An ``mvn`` on PATH that answers what Maven answers for an artifact it cannot find."""
    folder = tmp_path / "bin"
    folder.mkdir()
    script = folder / "mvn"
    script.write_text(
        "#!/bin/sh\n"
        "for arg in \"$@\"; do case $arg in -Dartifact=*) artifact=${arg#-Dartifact=} ;; esac; done\n"
        "echo \"[ERROR] Failed to execute goal ... Could not find artifact $artifact in central (https://repository.invalid/maven2) -> [Help 1]\"\n"
        "exit 1\n"
    )
    script.chmod(0o755)
    monkeypatch.setenv("PATH", "%s%s%s" % (folder, os.pathsep, os.environ["PATH"]))


def test_fetch_names_every_missing_artifact(cache, stand_in_mvn):
    with pytest.raises(server.LauncherError) as caught:
        server.fetch(server.VERSIONS["1.3"], log=lambda message: None)
    assert caught.value.code == 4
    lines = str(caught.value).splitlines()
    assert len(lines) == 3
    for line, coordinates in zip(lines, server.artifacts(server.VERSIONS["1.3"]).values()):
        assert line.startswith("%s is not on Maven Central: Maven answered \"Could not find artifact" % coordinates)


def test_main_exit_code_4_for_a_missing_artifact(cache, stand_in_mvn, capsys):
    assert server.main(["fetch", "--version", "2.0"]) == 4
    assert "io.kestra:kestra:2.0.0 is not on Maven Central" in capsys.readouterr().err


def test_a_fetched_jar_that_changed_is_refused(stand_in_jars):
    jar = next((stand_in_jars / "plugins").glob("plugin-serdes-*.jar"))
    with open(str(jar), "ab") as damaged:
        damaged.write(b"\0")
    with pytest.raises(server.LauncherError, match="changed since it was fetched"):
        server.fetch(STAND_IN, log=lambda message: None)


def test_check_jar_refuses_wrong_truncated_and_damaged_files(tmp_path):
    good = tmp_path / "good.jar"
    write_jar(good, {"io/kestra/cli/App.class": b"x" * 1000})
    server.check_jar(good, "io/kestra/cli/App.class", "g:a:1")
    with pytest.raises(server.LauncherError, match="has no io/kestra/plugin"):
        server.check_jar(good, "io/kestra/plugin/serdes/json/JsonToIon.class", "g:a:1")
    truncated = tmp_path / "truncated.jar"
    truncated.write_bytes(good.read_bytes()[:200])
    with pytest.raises(server.LauncherError, match="not a readable jar"):
        server.check_jar(truncated, "io/kestra/cli/App.class", "g:a:1")
    damaged = tmp_path / "damaged.jar"
    data = bytearray(good.read_bytes())
    data[data.index(b"x" * 10)] ^= 1  # stored, not compressed: flip a byte of the entry
    damaged.write_bytes(bytes(data))
    with pytest.raises(server.LauncherError, match="fails its CRC"):
        server.check_jar(damaged, "io/kestra/cli/App.class", "g:a:1")
    with pytest.raises(server.LauncherError, match="is missing"):
        server.check_jar(tmp_path / "absent.jar", "io/kestra/cli/App.class", "g:a:1")


@pytest.mark.parametrize("text, major", [
    ('openjdk version "17.0.15" 2025-04-15', 17),
    ('openjdk version "25.0.2" 2026-01-20 LTS', 25),
    ('java version "1.8.0_392"', 8),
    ('openjdk version "21" 2023-09-19', 21),
    ("command not found", None),
])
def test_parse_java_major(text, major):
    assert server.parse_java_major(text) == major


def test_release_for_lines_and_exact_versions():
    assert server.release_for("1.3") == server.VERSIONS["1.3"]
    assert server.release_for("1.3.20").kestra == "1.3.20"
    assert server.release_for("1.3.20").python == server.VERSIONS["1.3"].python
    assert server.release_for("2.0.0-rc11").java == 25
    for unknown in ("1.2.0", "3.0.0", "latest", "1.3.x"):
        with pytest.raises(server.LauncherError, match="unknown Kestra version"):
            server.release_for(unknown)


def test_config_is_yaml_readable_json_on_loopback(tmp_path):
    config = json.loads(server.config_text(tmp_path / "s", tmp_path / "t", 28080))
    assert config["micronaut"]["server"] == {"port": 28080, "host": "127.0.0.1"}
    assert config["kestra"]["server"]["basic-auth"] == {"username": server.USER, "password": server.PASSWORD}
    assert config["kestra"]["repository"] == {"type": "memory"}
    assert config["kestra"]["queue"] == {"type": "memory"}
    assert config["kestra"]["tutorial-flows"] == {"enabled": False}
    defaults = {entry["type"]: entry["values"] for entry in config["kestra"]["plugins"]["defaults"]}
    assert defaults["io.kestra.plugin.scripts"]["taskRunner"]["type"] == "io.kestra.plugin.core.runner.Process"
    assert defaults["io.kestra.plugin.scripts.python"] == {"packageManager": "PIP"}  # not uv, from the internet
    assert config["kestra"]["ai"] == {"enabled": False}
    assert config["kestra"]["controller"] == {"port": 28082}
    assert config["endpoints"]["all"]["port"] == 28081


@pytest.mark.parametrize("manifest, entries, problem", [
    ("Manifest-Version: 1.0\r\nMain-Class: io.kestra.cli.App\r\n", ["io/kestra/cli/App.class"], None),  # 1.x
    ("Main-Class: io.kestra.cli.Kestra\n", ["io/kestra/cli/Kestra.class"], None),  # 2.0 renamed it
    ("Main-Class: io.kestra.cli.Kes\n tra\n", ["io/kestra/cli/Kestra.class"], None),  # a folded line
    ("Main-Class: io.kestra.cli.Kestra\n", ["io/kestra/cli/App.class"], "has no io/kestra/cli/Kestra.class"),
    ("Main-Class: org.example.Main\n", ["org/example/Main.class"], "Main-Class is org.example.Main"),
    ("Manifest-Version: 1.0\n", [], "Main-Class is missing"),
    (None, ["io/kestra/cli/App.class"], "not an executable jar"),
])
def test_a_server_jar_is_checked_through_its_main_class(tmp_path, manifest, entries, problem):
    jar = tmp_path / "kestra.jar"
    contents = {name: b"class" for name in entries}
    if manifest is not None:
        contents["META-INF/MANIFEST.MF"] = manifest
    write_jar(jar, contents)
    if problem is None:
        server.check_jar(jar, None, str(jar))
    else:
        with pytest.raises(server.LauncherError, match=problem):
            server.check_jar(jar, None, str(jar))


def test_the_version_of_a_jar_obtained_elsewhere_is_its_own(tmp_path):
    jar = tmp_path / "kestra.jar"
    write_jar(jar, {"META-INF/MANIFEST.MF": "Main-Class: io.kestra.cli.App\nImplementation-Version: 9.9.9\n",
                    "gradle.properties": "# built by hand\nversion=1.3.25\nkestraVersion=x\n"})
    assert server.jar_version(jar) == "1.3.25"  # what Kestra itself reports
    assert server.chosen_version(None, jar) == "1.3.25"
    assert server.chosen_version("1.3", jar) == "1.3.25"
    assert server.chosen_version("1.3.25", jar) == "1.3.25"
    with pytest.raises(server.LauncherError, match="is Kestra 1.3.25, not 2.0: pass --version 1.3, or none"):
        server.chosen_version("2.0", jar)
    assert server.state_folder(server.release_for("1.3.25")) == server.state_folder(server.release_for("1.3"))
    write_jar(jar, {"META-INF/MANIFEST.MF": "Main-Class: io.kestra.cli.Kestra\nImplementation-Version: 2.0.0-SNAPSHOT\n"})
    assert server.chosen_version(None, jar) == "2.0.0-SNAPSHOT"
    assert server.release_for(server.chosen_version(None, jar)).java == 25
    write_jar(jar, {"META-INF/MANIFEST.MF": "Main-Class: io.kestra.cli.App\n"})
    assert server.chosen_version(None, jar) == server.DEFAULT_VERSION
    assert server.chosen_version("2.0", jar) == "2.0"


def test_java_candidates_put_the_configured_ones_first(monkeypatch, tmp_path):
    monkeypatch.setenv("KESTRA_E2E_JAVA", "/configured/java")
    monkeypatch.setenv("JAVA_HOME", "/home/jdk")
    candidates = server.java_candidates()
    assert candidates[:2] == ["/configured/java", "/home/jdk/bin/java"]
    assert len(candidates) == len(set(candidates))
