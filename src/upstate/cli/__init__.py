"""The `upstate` command line. This package and web/app.py are where things get wired."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence

import uvloop
from pydantic import ValidationError

from upstate import __version__
from upstate.cli import export as export_cli
from upstate.cli import incident as incident_cli
from upstate.cli import notify as notify_cli
from upstate.config import Settings
from upstate.config.loader import load_config, validate_file
from upstate.config.targets import parse_target
from upstate.console import Painter, render_one, render_table
from upstate.domain.check import CheckDefinition
from upstate.domain.conditions import ConditionSyntaxError, parse_condition
from upstate.domain.durations import parse_duration
from upstate.errors import ConfigError, UpstateError, UsageError
from upstate.probes.base import ProbeContext
from upstate.services.checks import CheckResult, result_to_json, run_checks, worst_exit_code

EXIT_UP, EXIT_DOWN, EXIT_USAGE, EXIT_DEGRADED = 0, 1, 2, 3


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="upstate", description="Self-hosted uptime monitor and status page.")
    parser.add_argument("--version", action="version", version=f"upstate {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    check = commands.add_parser(
        "check",
        help="probe a target (or every monitor of a config file) once",
        description="Exit status: 0 up, 1 down, 3 degraded, 2 usage error.",
    )
    check.add_argument(
        "target",
        nargs="?",
        help="http(s)://…, tcp://host:port, dns://name?type=MX&server=IP[:port], "
        "icmp://host, tls://host:port, statuspage+https://…",
    )
    check.add_argument("--config", help="run every monitor of this config file once")
    check.add_argument(
        "--condition", action="append", default=[], help="must hold, else down (repeatable)"
    )
    check.add_argument(
        "--degraded-when", action="append", default=[], help="if it holds: degraded (repeatable)"
    )
    check.add_argument("--timeout", default="10s", help="total deadline, e.g. 5s or 500ms")
    check.add_argument("--method", default="GET", help="HTTP method")
    check.add_argument(
        "--header", action="append", default=[], help="HTTP header 'Name: value' (repeatable)"
    )
    check.add_argument("--insecure", action="store_true", help="do not verify TLS certificates")
    check.add_argument("--json", action="store_true", help="print JSON instead of text")
    check.add_argument("--region", default="local", help="the region name to record")

    validate = commands.add_parser("validate", help="check a config file and name every error")
    validate.add_argument("file")

    serve = commands.add_parser(
        "serve", help="run Upstate: web, scheduler and result writer in one process"
    )
    serve.add_argument("--config", help="the monitors-as-code file (or UPSTATE_CONFIG)")
    serve.add_argument("--host", help="listen address (default 127.0.0.1, or UPSTATE_HOST)")
    serve.add_argument("--port", type=int, help="listen port (default 8080, or UPSTATE_PORT)")
    serve.add_argument("--log-level", default="info", choices=["debug", "info", "warning"])

    database = commands.add_parser("db", help="database maintenance")
    db_commands = database.add_subparsers(dest="db_command", required=True, parser_class=_Parser)
    db_commands.add_parser("upgrade", help="run the migrations (serve also runs them at start)")
    db_commands.add_parser("current", help="print the database's migration revision")

    incident_cli.add_parser(commands)
    export_cli.add_parser(commands)
    notify = commands.add_parser("notify", help="notification channels")
    notify_commands = notify.add_subparsers(
        dest="notify_command", required=True, parser_class=_Parser
    )
    notify_cli.configure(
        notify_commands.add_parser(
            "test",
            help="send a test notification through the running server",
            description=(
                "Exit status: 0 delivered, 1 not delivered, 2 the server could not be asked."
            ),
        )
    )
    return parser


def _emit(text: str) -> None:
    """Print to stdout; a reader that went away (`upstate check … | head`) is no error."""
    try:
        print(text, flush=True)
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _colour(stream: object) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty()) and "NO_COLOR" not in os.environ


def _definition_from_args(args: argparse.Namespace) -> CheckDefinition:
    try:
        timeout_s = parse_duration(args.timeout)
    except ValueError as exc:
        raise UsageError(f"--timeout: {exc}") from exc
    headers = []
    for raw in args.header:
        name, sep, value = raw.partition(":")
        if not sep or not name.strip():
            raise UsageError(f"--header {raw!r}: expected 'Name: value'")
        headers.append((name.strip(), value.strip()))
    spec = parse_target(
        args.target,
        timeout_s=timeout_s,
        method=args.method,
        headers=tuple(headers),
        insecure=args.insecure,
    )

    def parsed(option: str, texts: Sequence[str]) -> tuple[object, ...]:
        out = []
        for text in texts:
            try:
                out.append(parse_condition(text))
            except ConditionSyntaxError as exc:
                raise UsageError(f"{option} {text!r}: {exc}") from exc
        return tuple(out)

    return CheckDefinition(
        key="check",
        name=args.target,
        spec=spec,
        conditions=parsed("--condition", args.condition),  # type: ignore[arg-type]
        degraded_when=parsed("--degraded-when", args.degraded_when),  # type: ignore[arg-type]
    )


def _row(result: CheckResult) -> tuple[str, str, str, str, str, str]:
    obs, verdict = result.observation, result.verdict
    code = str(obs.status_code) if obs.status_code is not None else "-"
    return (
        result.definition.key,
        str(obs.kind),
        str(verdict.status),
        f"{obs.duration_ms:.0f}ms",
        code,
        verdict.reason,
    )


def _check(args: argparse.Namespace) -> int:
    ctx = ProbeContext(region=args.region)
    paint = Painter(_colour(sys.stdout))
    if args.config:
        if args.target:
            raise UsageError("give a TARGET or --config FILE, not both")
        config = load_config(args.config)
        definitions, skipped = [], []
        for monitor in config.monitors:
            if monitor.paused:
                skipped.append((monitor, "paused"))
            elif monitor.probe_spec() is None:
                skipped.append((monitor, f"not probed here ({monitor.kind} needs the service)"))
            else:
                definitions.append(monitor.check_definition())
        results = uvloop.run(run_checks(definitions, ctx))
        if args.json:
            _emit(json.dumps([result_to_json(r) for r in results], indent=2))
        else:
            rows = [_row(r) for r in results]
            rows.extend((m.key, str(m.kind), "-", "-", "-", why) for m, why in skipped)
            _emit(render_table(rows, paint))
        return worst_exit_code(results)
    if not args.target:
        raise UsageError("give a TARGET (e.g. https://example.com) or --config FILE")
    definition = _definition_from_args(args)
    (result,) = uvloop.run(run_checks([definition], ctx))
    if args.json:
        _emit(json.dumps(result_to_json(result), indent=2))
    else:
        _emit(render_one(result, paint))
    return worst_exit_code([result])


def _validate(args: argparse.Namespace) -> int:
    issues = validate_file(args.file)
    for issue in issues:
        print(issue, file=sys.stderr)
    if issues:
        print(f"{args.file}: {len(issues)} error(s)", file=sys.stderr)
        return 1
    print(f"{args.file}: ok")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return _dispatch(args)


def _settings(args: argparse.Namespace) -> Settings:
    overrides = {
        name: getattr(args, name)
        for name in ("config", "host", "port")
        if getattr(args, name, None) is not None
    }
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise UsageError(f"settings: {exc.errors()[0]['msg']}") from None


def _logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )
    # httpx logs every request's full URL at INFO; webhook URLs can carry tokens.
    logging.getLogger("httpx").setLevel(logging.WARNING)


def _serve(args: argparse.Namespace) -> int:
    from upstate.cli.serve import serve

    settings = _settings(args)
    _logging(args.log_level)
    return uvloop.run(serve(settings, settings.config))


def _db(args: argparse.Namespace) -> int:
    from upstate.store.migrate import current, head, upgrade

    settings = _settings(args)
    if args.db_command == "upgrade":
        _logging("info")
        uvloop.run(upgrade(settings.database_url))
        _emit(f"database at revision {head()}")
        return 0
    revision = uvloop.run(current(settings.database_url))
    _emit(revision or "(empty database)")
    return 0


def _dispatch(args: argparse.Namespace) -> int:
    try:
        if args.command == "check":
            return _check(args)
        if args.command == "validate":
            return _validate(args)
        if args.command == "serve":
            return _serve(args)
        if args.command == "db":
            return _db(args)
        if args.command == "export-static":
            return export_cli.run(args, _settings(args))
        if args.command == "incident":
            return incident_cli.run(args, _settings(args))
        if args.command == "notify":
            return notify_cli.run(args, _settings(args))
    except ConfigError as exc:
        for issue in exc.issues:
            print(issue, file=sys.stderr)
        return EXIT_USAGE
    except UpstateError as exc:
        print(f"upstate: {exc.message}", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_USAGE
