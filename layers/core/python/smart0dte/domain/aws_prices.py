"""AWS list prices in us-east-1 that `smart0dte cost` multiplies by usage: on-demand, in USD,
before free tiers and before tax, and the always-free allowances (ALWAYS_FREE), which the estimate
takes off only when asked. Dated: re-read the pages in SOURCES and change PRICES_AS_OF with any
price.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

PRICES_AS_OF: Final = "2026-06-17"
"""The day these list prices were last compared with the pages below (the Fargate and DynamoDB
rates against copies of the pricing pages dated 2026; the others unchanged since 2024)."""
REGION: Final = "us-east-1"


@dataclass(frozen=True, slots=True)
class AwsPrices:
    """One region's list prices, each named with its unit."""

    fargate_x86_vcpu_hour: float = 0.04048
    fargate_x86_gb_hour: float = 0.004445
    fargate_arm_vcpu_hour: float = 0.03238
    fargate_arm_gb_hour: float = 0.00356
    public_ipv4_hour: float = 0.005
    lambda_x86_gb_second: float = 0.0000166667
    lambda_arm_gb_second: float = 0.0000133334
    lambda_per_million_requests: float = 0.20
    sfn_standard_per_thousand_transitions: float = 0.025
    sfn_express_per_million_requests: float = 1.00
    sfn_express_gb_second: float = 0.00001667
    dynamodb_per_million_write_units: float = 0.625
    dynamodb_per_million_read_units: float = 0.125
    dynamodb_storage_gb_month: float = 0.25
    dynamodb_pitr_gb_month: float = 0.20
    scheduler_per_million_invocations: float = 1.00
    secret_month: float = 0.40
    secrets_per_10k_api_calls: float = 0.05
    cloudwatch_alarm_metric_month: float = 0.10
    cloudwatch_high_resolution_alarm_metric_month: float = 0.30
    cloudwatch_composite_alarm_month: float = 0.50
    cloudwatch_custom_metric_month: float = 0.30
    """Per metric sent every hour of a 730-hour month; prorated by the hours it is sent."""
    cloudwatch_dashboard_month: float = 3.00
    logs_ingest_gb: float = 0.50
    logs_vended_ingest_gb: float = 0.50
    logs_storage_gb_month: float = 0.03
    xray_per_million_traces: float = 5.00
    http_api_per_million_requests: float = 1.00
    cloudfront_transfer_out_gb: float = 0.085
    cloudfront_per_10k_https_requests: float = 0.01
    cloudfront_function_per_million: float = 0.10
    s3_standard_gb_month: float = 0.023
    s3_per_1k_put_requests: float = 0.005
    s3_per_1k_get_requests: float = 0.0004
    sqs_standard_per_million_requests: float = 0.40
    sqs_fifo_per_million_requests: float = 0.50
    sns_per_million_publishes: float = 0.50
    sns_per_100k_email_deliveries: float = 2.00
    ecr_storage_gb_month: float = 0.10
    kms_key_month: float = 1.00
    cognito_lite_mau: float = 0.0055
    cognito_essentials_mau: float = 0.015
    cognito_plus_mau: float = 0.02


US_EAST_1: Final = AwsPrices()

SOURCES: Final = (
    "https://aws.amazon.com/fargate/pricing/",
    "https://aws.amazon.com/vpc/pricing/ (public IPv4 addresses)",
    "https://aws.amazon.com/lambda/pricing/",
    "https://aws.amazon.com/step-functions/pricing/",
    "https://aws.amazon.com/dynamodb/pricing/on-demand/",
    "https://aws.amazon.com/eventbridge/pricing/ (Scheduler)",
    "https://aws.amazon.com/secrets-manager/pricing/",
    "https://aws.amazon.com/cloudwatch/pricing/",
    "https://aws.amazon.com/xray/pricing/",
    "https://aws.amazon.com/api-gateway/pricing/ (HTTP APIs)",
    "https://aws.amazon.com/cloudfront/pricing/",
    "https://aws.amazon.com/s3/pricing/",
    "https://aws.amazon.com/sqs/pricing/",
    "https://aws.amazon.com/sns/pricing/",
    "https://aws.amazon.com/ecr/pricing/",
    "https://aws.amazon.com/kms/pricing/",
    "https://aws.amazon.com/cognito/pricing/",
)


@dataclass(frozen=True, slots=True)
class FreeAllowance:
    """An always-free monthly allowance of one account: `per_month` units of `quantity`, each worth
    the price field `price` divided by `price_units` (1e6 for a per-million price)."""

    quantity: str
    service: str
    per_month: float
    price: str
    price_units: float
    what: str


ALWAYS_FREE: Final = (
    FreeAllowance("lambda_requests", "Lambda", 1e6, "lambda_per_million_requests", 1e6, "1M requests"),
    FreeAllowance("lambda_gb_seconds", "Lambda", 400_000, "lambda_x86_gb_second", 1, "400,000 GB-s"),
    FreeAllowance(
        "sfn_standard_transitions",
        "Step Functions",
        4_000,
        "sfn_standard_per_thousand_transitions",
        1_000,
        "4,000 Standard transitions",
    ),
    FreeAllowance("dynamodb_storage_gb", "DynamoDB", 25, "dynamodb_storage_gb_month", 1, "25 GB stored"),
    FreeAllowance(
        "cloudwatch_alarm_metrics", "CloudWatch", 10, "cloudwatch_alarm_metric_month", 1, "10 alarm metrics"
    ),
    FreeAllowance(
        "cloudwatch_custom_metric_months",
        "CloudWatch",
        10,
        "cloudwatch_custom_metric_month",
        1,
        "10 custom metrics",
    ),
    FreeAllowance("cloudwatch_dashboards", "CloudWatch", 3, "cloudwatch_dashboard_month", 1, "3 dashboards"),
    FreeAllowance(
        "logs_ingest_gb", "CloudWatch", 5, "logs_ingest_gb", 1, "5 GB of logs (taken off ingestion)"
    ),
    FreeAllowance("xray_traces", "X-Ray", 100_000, "xray_per_million_traces", 1e6, "100,000 traces"),
    FreeAllowance(
        "sqs_requests",
        "SQS",
        1e6,
        "sqs_standard_per_million_requests",
        1e6,
        "1M requests (at the standard price)",
    ),
    FreeAllowance("sns_publishes", "SNS", 1e6, "sns_per_million_publishes", 1e6, "1M publishes"),
    FreeAllowance("sns_emails", "SNS", 1_000, "sns_per_100k_email_deliveries", 1e5, "1,000 emails"),
    FreeAllowance(
        "scheduler_invocations",
        "EventBridge Scheduler",
        14e6,
        "scheduler_per_million_invocations",
        1e6,
        "14M invocations",
    ),
    FreeAllowance("cloudfront_gb", "CloudFront", 1_000, "cloudfront_transfer_out_gb", 1, "1 TB out"),
    FreeAllowance(
        "cloudfront_requests", "CloudFront", 10e6, "cloudfront_per_10k_https_requests", 1e4, "10M requests"
    ),
    FreeAllowance(
        "cognito_mau", "Cognito", 10_000, "cognito_essentials_mau", 1, "10,000 monthly active users"
    ),
)
"""The always-free allowances (not the 12-month trial ones) that `--assume always_free_tiers=1`
takes off; an account's, so shared by every stage deployed in it."""
