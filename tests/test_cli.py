"""`upstate check` and `upstate validate`, run through main() against loopback targets."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.targets.http import HttpTarget
from upstate import __version__
from upstate.cli import main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_it_says_up_and_shows_the_waterfall(
    http_target: HttpTarget, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "check", http_target.url("/json"), "--condition", "[STATUS] == 200")
    assert code == 0
    assert "TCP connect" in out
    assert "Server processing" in out
    assert "✓ [STATUS] (200) == 200" in out
    assert "UP" in out


def test_it_prints_one_json_object(
    http_target: HttpTarget, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(
        capsys,
        "check",
        http_target.url("/json"),
        "--json",
        "--condition",
        "[BODY].status == ok",
    )
    data = json.loads(out)
    assert code == 0
    assert set(data) >= {
        "kind",
        "target",
        "status",
        "started_at",
        "duration_ms",
        "phases",
        "status_code",
        "ip",
        "error",
        "conditions",
        "extracted",
    }
    assert data["status"] == "up"
    assert data["status_code"] == 200
    assert data["ip"] == "127.0.0.1"
    assert data["error"] is None
    assert set(data["phases"]) == {"dns_ms", "connect_ms", "tls_ms", "ttfb_ms", "transfer_ms"}
    assert data["phases"]["tls_ms"] is None
    assert data["phases"]["connect_ms"] >= 0
    assert data["conditions"] == [{"expr": "[BODY].status == ok", "value": "ok", "ok": True}]


def test_it_exits_1_when_down_and_names_the_failed_condition(
    http_target: HttpTarget, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "check", http_target.url("/status/503"), "--json")
    data = json.loads(out)
    assert code == 1
    assert data["status"] == "down"
    assert data["conditions"][0]["value"] == "503"
    assert not data["conditions"][0]["ok"]


def test_it_exits_3_when_degraded(
    http_target: HttpTarget, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(
        capsys, "check", http_target.url("/ok"), "--degraded-when", "[RESPONSE_TIME] >= 0"
    )
    assert code == 3
    assert "DEGRADED" in out


def test_it_reports_the_error_kind_of_a_refused_port(
    tcp_target: object, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.targets.tcp import free_port

    code, out, _ = run(capsys, "check", f"tcp://127.0.0.1:{free_port()}", "--json")
    assert code == 1
    assert json.loads(out)["error"]["kind"] == "connection_refused"


def test_it_sends_method_and_headers(
    http_target: HttpTarget, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(
        capsys,
        "check",
        http_target.url("/echo"),
        "--method",
        "POST",
        "--header",
        "X-Probe: yes",
        "--condition",
        "[BODY].method == POST",
        "--condition",
        '[BODY] matches "X-Probe", "yes"',
        "--json",
    )
    assert code == 0, out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["check", "ftp://example.com"], "unknown scheme 'ftp'"),
        (["check", "http://127.0.0.1/", "--condition", "[STATS] == 200"], "column 1"),
        (["check"], "give a TARGET"),
        (["check", "http://127.0.0.1/", "--timeout", "soon"], "invalid duration"),
        (["check", "http://127.0.0.1/", "--header", "no colon"], "expected 'Name: value'"),
    ],
)
def test_it_exits_2_with_a_clear_message_for_bad_usage(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert message in err


def test_it_exits_2_for_an_unknown_option(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["check", "--frobnicate"])
    assert exited.value.code == 2


def write_config(tmp_path: Path, http_target: HttpTarget, refused_port: int) -> Path:
    path = tmp_path / "upstate.yaml"
    path.write_text(
        f"""
monitors:
  - key: web
    kind: http
    url: {http_target.url("/json")}
    conditions: ["[BODY].build == 1.2.3"]
  - key: gone
    kind: tcp
    host: 127.0.0.1
    port: {refused_port}
  - key: resting
    kind: http
    url: {http_target.url("/ok")}
    paused: true
  - key: cron
    kind: push
    period: 1h
    grace: 5m
"""
    )
    return path


def test_it_runs_every_monitor_of_a_config_once(
    tmp_path: Path, http_target: HttpTarget, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.targets.tcp import free_port

    path = write_config(tmp_path, http_target, free_port())
    code, out, _ = run(capsys, "check", "--config", str(path))
    lines = out.splitlines()
    assert code == 1
    assert lines[0].split() == ["KEY", "KIND", "STATUS", "TIME", "CODE", "DETAIL"]
    rows = {line.split()[0]: line for line in lines[1:]}
    assert rows["web"].split()[2] == "UP"
    assert "connection_refused" in rows["gone"]
    assert "paused" in rows["resting"]
    assert "not probed here" in rows["cron"]


def test_it_runs_a_config_as_json(
    tmp_path: Path, http_target: HttpTarget, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.targets.tcp import free_port

    path = write_config(tmp_path, http_target, free_port())
    code, out, _ = run(capsys, "check", "--config", str(path), "--json")
    data = {item["key"]: item for item in json.loads(out)}
    assert code == 1
    assert set(data) == {"web", "gone"}
    assert data["web"]["status"] == "up"
    assert data["gone"]["status"] == "down"


def test_it_validates_a_good_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "ok.yaml"
    path.write_text("monitors:\n  - {key: a, kind: tcp, host: 127.0.0.1, port: 1}\n")
    code, out, _ = run(capsys, "validate", str(path))
    assert code == 0
    assert out.strip() == f"{path}: ok"


def test_it_names_file_line_column_and_field_of_each_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "monitors:\n"
        "  - key: a\n"
        "    kind: http\n"
        "    url: http://127.0.0.1/\n"
        "    interval: soon\n"
        '    conditions: ["[STATUS] === 200"]\n'
    )
    code, _, err = run(capsys, "validate", str(path))
    assert code == 1
    assert f"{path}:5:15: monitors[key=a].interval:" in err
    assert f"{path}:6:" in err
    assert "2 error(s)" in err


def test_it_gives_the_example_config_a_clean_bill(capsys: pytest.CaptureFixture[str]) -> None:
    example = Path(__file__).resolve().parent.parent / "examples" / "upstate.yaml"
    code, _, err = run(capsys, "validate", str(example))
    assert code == 0, err


def test_it_runs_as_a_module() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "upstate", "--version"], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == f"upstate {__version__}"


def test_it_migrates_a_database_and_reports_its_revision(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from upstate.store.migrate import head

    monkeypatch.setenv("UPSTATE_DATABASE_URL", f"sqlite:///{tmp_path}/u.db")
    code, out, _ = run(capsys, "db", "current")
    assert (code, out.strip()) == (0, "(empty database)")
    code, out, _ = run(capsys, "db", "upgrade")
    assert code == 0
    assert out.strip() == f"database at revision {head()}"
    code, out, _ = run(capsys, "db", "current")
    assert out.strip() == head()


def test_it_refuses_to_serve_beyond_loopback_without_an_api_token(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("UPSTATE_API_TOKEN", raising=False)
    monkeypatch.delenv("UPSTATE_API_TOKEN_FILE", raising=False)
    code, _, err = run(capsys, "serve", "--host", "0.0.0.0")
    assert code == 2
    assert "set UPSTATE_API_TOKEN" in err
