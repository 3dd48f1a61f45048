"""`smart0dte cost`: the stack's monthly cost in us-east-1, per resource and per service.

Synthesizes the stack as `cdk synth` does (`--context k=v`, repeated, as `-c`), or reads a
synthesized template (`--template FILE`, with `--context prefix=...` when its stage has another
prefix, so its functions are recognised), and prices it with `services.cost` at the dated list
prices of `domain.aws_prices`; `--assume name=value` overrides one usage assumption.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from smart0dte import resources
from smart0dte.bootstrap.synth import synthesize_template
from smart0dte.domain.aws_prices import PRICES_AS_OF, US_EAST_1
from smart0dte.domain.models import DomainError
from smart0dte.services.cost import Usage, estimate


def pair_arg(flag: str) -> Callable[[str], tuple[str, str]]:
    """Parse `key=value` (a non-empty key); the error names the flag."""

    def parse(text: str) -> tuple[str, str]:
        key, sep, value = text.partition("=")
        if not sep or not key.strip():
            raise argparse.ArgumentTypeError(f"{flag} {text!r} must be key=value")
        return key.strip(), value

    return parse


def register(commands: Any) -> None:
    parser = commands.add_parser("cost", help="the stack's monthly AWS cost (us-east-1 list prices)")
    parser.add_argument(
        "--context",
        type=pair_arg("--context"),
        action="append",
        default=[],
        metavar="K=V",
        help="CDK context as `cdk synth -c K=V` (e.g. marketData=databento, liveTrading=enabled)",
    )
    parser.add_argument(
        "--template", type=Path, help="price this synthesized template instead of synthesizing"
    )
    parser.add_argument(
        "--assume",
        type=pair_arg("--assume"),
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override one usage assumption (names: the keys of --json's assumptions)",
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    context = dict(args.context)
    usage = Usage().overridden(dict(args.assume), "--assume")
    if args.template is not None:
        if set(context) - {"prefix"}:
            raise DomainError("--context with --template may only name the stack's prefix (prefix=...)")
        try:
            template = json.loads(args.template.read_text())
        except (OSError, ValueError) as error:
            raise DomainError(
                f"--template {args.template}: not a readable JSON template ({error})"
            ) from error
    else:
        template = synthesize_template(context)
    prefix = context.get("prefix", resources.DEFAULT_PREFIX)
    result = estimate(template, usage, US_EAST_1, prefix=prefix)
    if args.json:
        print(json.dumps(result.as_json(), indent=2))
        return 0
    document = result.as_json()
    total = document["total_usd_month"]
    print(f"Monthly cost, us-east-1 list prices of {PRICES_AS_OF}: ${total:.2f}")
    if usage.always_free_tiers:
        print(
            f"  with AWS's always-free allowances taken off (without them: "
            f"${document['total_without_free_tiers_usd_month']:.2f}; an account whose other "
            "workloads use them: --assume always_free_tiers=0)"
        )
    else:
        print("  no free tier taken off (--assume always_free_tiers=0)")
    for service, usd in document["by_service"].items():
        print(f"  {service:<24} ${usd:8.2f}")
    print("By resource:")
    for line in document["by_resource"]:
        if abs(line["usd_month"]) >= 0.005:
            print(
                f"  {line['resource']:<44} {line['service']:<22} ${line['usd_month']:8.2f}  {line['detail']}"
            )
    if document["unpriced_resource_types"]:
        print(f"Not priced (unknown types): {document['unpriced_resource_types']}")
    print("Assumptions: see --json's `assumptions`; override with --assume NAME=VALUE.")
    return 0
