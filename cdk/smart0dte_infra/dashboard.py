"""The dashboard in AWS: the API function behind an API Gateway HTTP API with Cognito's JWT
authorizer, and a CloudFront distribution serving the built site (web/dist) from a private bucket
and proxying `/api/*` to the HTTP API, so the browser talks to one origin.

Routes: `GET /api/health` and `GET /api/openapi.json` are public (smart0dte.services.api's
PUBLIC_PATHS); every other `/api/...` request needs an access token of the user pool's dashboard
client. API Gateway checks the scope coarsely (GET: `smart0dte/read` or `smart0dte/trade`; any
other method: `smart0dte/trade`) and the API service checks it again, with the caller's identity
for the audit log.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from aws_cdk import Aws, DefaultStackSynthesizer, Duration, Fn, RemovalPolicy, Stack
from aws_cdk import aws_apigatewayv2 as apigw
from aws_cdk import aws_apigatewayv2_authorizers as authorizers
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_deployment as s3deploy
from constructs import Construct, Node

from smart0dte import resources as r

from .auth import OPENID_SCOPE, READ_SCOPE, TRADE_SCOPE, Auth, full_scope
from .nag import acknowledge, finding_resource
from .storage import OLD_VERSIONS, Storage

PUBLIC_ROUTES = ("/api/health", "/api/openapi.json")
"""GET without a token: the paths smart0dte.services.api serves to anyone (a test keeps them equal)."""
PROXY_ROUTE = "/api/{proxy+}"
READ_SCOPES = (full_scope(READ_SCOPE), full_scope(TRADE_SCOPE))
TRADE_SCOPES = (full_scope(TRADE_SCOPE),)
THROTTLE_RATE_PER_S = 50
THROTTLE_BURST = 100
"""One operator's dashboard polls a few routes every few seconds; this caps a runaway client."""
LOG_RETENTION = logs.RetentionDays.THREE_MONTHS
ACCESS_LOG_FORMAT = {
    "requestId": "$context.requestId",
    "ip": "$context.identity.sourceIp",
    "requestTime": "$context.requestTime",
    "httpMethod": "$context.httpMethod",
    "path": "$context.path",
    "routeKey": "$context.routeKey",
    "status": "$context.status",
    "protocol": "$context.protocol",
    "responseLength": "$context.responseLength",
    "latencyMs": "$context.responseLatency",
    "user": "$context.authorizer.claims.sub",
    "authorizerError": "$context.authorizer.error",
    "integrationError": "$context.integrationErrorMessage",
}


def content_security_policy(sign_in_origin: str) -> str:
    """The dashboard's CSP; `sign_in_origin` (the Cognito hosted-UI domain) may be fetched, since
    the browser exchanges the authorization code for tokens at its /oauth2/token."""
    return "; ".join(
        (
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self' 'unsafe-inline'",  # the chart library sizes its canvases with inline styles
            "img-src 'self' data:",
            f"connect-src 'self' {sign_in_origin}",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        )
    )


DOMAIN_NAME_CONTEXT: Final = "domainName"
CERTIFICATE_ARN_CONTEXT: Final = "certificateArn"
CLOUDFRONT_CERTIFICATE_ARN: Final = re.compile(r"arn:aws:acm:us-east-1:\d{12}:certificate/[0-9a-f-]+")
"""CloudFront takes ACM certificates from us-east-1 only."""
VIEWER_TLS_WITH_DOMAIN: Final = cloudfront.SecurityPolicyProtocol.TLS_V1_2_2021


class CustomDomainContextError(ValueError):
    """domainName and certificateArn must come together, the certificate from us-east-1's ACM."""


@dataclass(frozen=True, slots=True)
class CustomDomain:
    """The dashboard's own host name and its ACM certificate (us-east-1)."""

    name: str
    certificate_arn: str


def custom_domain_from_context(node: Node) -> CustomDomain | None:
    """`-c domainName=... -c certificateArn=...` (both, or neither: the *.cloudfront.net name)."""
    name = node.try_get_context(DOMAIN_NAME_CONTEXT)
    arn = node.try_get_context(CERTIFICATE_ARN_CONTEXT)
    if name is None and arn is None:
        return None
    if not name or not arn:
        raise CustomDomainContextError(
            f"context {DOMAIN_NAME_CONTEXT}={name!r} and {CERTIFICATE_ARN_CONTEXT}={arn!r}: give both "
            "(the dashboard's host name and an ACM certificate for it in us-east-1), or neither"
        )
    if not CLOUDFRONT_CERTIFICATE_ARN.fullmatch(str(arn)):
        raise CustomDomainContextError(
            f"context {CERTIFICATE_ARN_CONTEXT}={arn!r} is not an ACM certificate ARN in us-east-1 "
            "(arn:aws:acm:us-east-1:<account>:certificate/<id>): CloudFront takes no other region's"
        )
    return CustomDomain(str(name), str(arn))


CONFIG_FILE = "config.json"
"""Read by the dashboard at boot (web/src/auth.js): where and how to sign in."""
BUILD_COMMAND = "make web/dist/index.html"
BUILD_COMMAND_NPM = "cd web && npm ci && npm run build"


class DashboardNotBuiltError(FileNotFoundError):
    """The dashboard directory to deploy holds no index.html."""


def check_dashboard(directory: Path) -> None:
    if not (directory / "index.html").is_file():
        raise DashboardNotBuiltError(
            f"cannot synthesize: the dashboard is not built ({directory / 'index.html'} is missing). "
            f"Build it with `{BUILD_COMMAND}` (or `{BUILD_COMMAND_NPM}`) from the repository root, "
            "then synthesize again."
        )


class Dashboard(Construct):
    """`http_api`, `distribution`, `site_bucket` and the auth pieces, wired to `api_function`."""

    def __init__(
        self,
        scope: Construct,
        construct_id_: str,
        *,
        prefix: str,
        dashboard_dir: Path,
        api_function: lambda_.Function,
        storage: Storage,
        domain: CustomDomain | None = None,
    ) -> None:
        super().__init__(scope, construct_id_)
        check_dashboard(dashboard_dir)
        self.domain = domain
        self.auth = Auth(self, "Auth", prefix=prefix)
        self.http_api = apigw.HttpApi(
            self,
            "HttpApi",
            api_name=prefix,
            description=f"{prefix} dashboard API (served to browsers through CloudFront /api/*)",
            create_default_stage=False,
        )
        self.access_logs = logs.LogGroup(
            self, "HttpApiAccessLogs", retention=LOG_RETENTION, removal_policy=RemovalPolicy.DESTROY
        )
        self.stage = apigw.HttpStage(
            self,
            "Stage",
            http_api=self.http_api,
            stage_name="$default",
            auto_deploy=True,
            throttle=apigw.ThrottleSettings(rate_limit=THROTTLE_RATE_PER_S, burst_limit=THROTTLE_BURST),
        )
        cfn_stage = self.stage.node.default_child
        assert isinstance(cfn_stage, apigw.CfnStage)
        cfn_stage.access_log_settings = apigw.CfnStage.AccessLogSettingsProperty(
            destination_arn=self.access_logs.log_group_arn, format=json.dumps(ACCESS_LOG_FORMAT)
        )

        self.site_bucket = s3.Bucket(
            self,
            "SiteBucket",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            server_access_logs_bucket=storage.access_logs,
            server_access_logs_prefix="dashboard/",
            versioned=True,
            lifecycle_rules=[OLD_VERSIONS],
            removal_policy=RemovalPolicy.RETAIN,
        )
        headers = cloudfront.ResponseHeadersPolicy(
            self,
            "SecurityHeaders",
            comment=f"{prefix}: HSTS, CSP, no framing, no sniffing, no referrer (codes arrive in the URL)",
            security_headers_behavior=cloudfront.ResponseSecurityHeadersBehavior(
                strict_transport_security=cloudfront.ResponseHeadersStrictTransportSecurity(
                    access_control_max_age=Duration.days(730), include_subdomains=True, override=True
                ),
                content_security_policy=cloudfront.ResponseHeadersContentSecurityPolicy(
                    content_security_policy=content_security_policy(self.auth.domain.base_url()),
                    override=True,
                ),
                content_type_options=cloudfront.ResponseHeadersContentTypeOptions(override=True),
                frame_options=cloudfront.ResponseHeadersFrameOptions(
                    frame_option=cloudfront.HeadersFrameOption.DENY, override=True
                ),
                referrer_policy=cloudfront.ResponseHeadersReferrerPolicy(
                    referrer_policy=cloudfront.HeadersReferrerPolicy.NO_REFERRER, override=True
                ),
            ),
        )
        api_domain = f"{self.http_api.api_id}.execute-api.{Aws.REGION}.{Aws.URL_SUFFIX}"
        # CloudFront reaches the HTTP API by its execute-api name, so that endpoint stays enabled
        # (disable_execute_api_endpoint would cut the dashboard off, short of an API custom domain
        # with its own certificate and DNS record). Instead CloudFront sends ORIGIN_VERIFY_HEADER
        # with the stack id's UUID and the API function answers 403 without it: a direct call
        # reaches nothing. Not a secret from the account (CloudFormation shows the id), unguessable
        # to anyone else; the Cognito JWT stays the API's authentication.
        self.origin_verify = Fn.select(2, Fn.split("/", Aws.STACK_ID))
        api_function.add_environment(r.ENV_ORIGIN_VERIFY, self.origin_verify)
        self.distribution = cloudfront.Distribution(
            self,
            "Distribution",
            comment=f"{prefix} dashboard",
            default_root_object="index.html",
            domain_names=None if domain is None else [domain.name],
            certificate=None
            if domain is None
            else acm.Certificate.from_certificate_arn(self, "Certificate", domain.certificate_arn),
            minimum_protocol_version=None if domain is None else VIEWER_TLS_WITH_DOMAIN,
            price_class=cloudfront.PriceClass.PRICE_CLASS_100,
            http_version=cloudfront.HttpVersion.HTTP2_AND_3,
            default_behavior=cloudfront.BehaviorOptions(
                origin=origins.S3BucketOrigin.with_origin_access_control(self.site_bucket),
                viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
                allowed_methods=cloudfront.AllowedMethods.ALLOW_GET_HEAD,
                cache_policy=cloudfront.CachePolicy.CACHING_OPTIMIZED,
                response_headers_policy=headers,
                compress=True,
            ),
            additional_behaviors={
                # Never cached; every viewer header but Host (API Gateway routes on its own host)
                # and the query string go through. With caching disabled the AllViewer policies
                # forward Authorization too. HTTPS only: a bearer token never travels in clear.
                "/api/*": cloudfront.BehaviorOptions(
                    origin=origins.HttpOrigin(
                        api_domain,
                        protocol_policy=cloudfront.OriginProtocolPolicy.HTTPS_ONLY,
                        origin_ssl_protocols=[cloudfront.OriginSslPolicy.TLS_V1_2],
                        custom_headers={r.ORIGIN_VERIFY_HEADER: self.origin_verify},
                    ),
                    viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.HTTPS_ONLY,
                    allowed_methods=cloudfront.AllowedMethods.ALLOW_ALL,
                    cache_policy=cloudfront.CachePolicy.CACHING_DISABLED,
                    origin_request_policy=cloudfront.OriginRequestPolicy.ALL_VIEWER_EXCEPT_HOST_HEADER,
                    response_headers_policy=headers,
                ),
            },
        )
        host = self.distribution.distribution_domain_name if domain is None else domain.name
        self.url = f"https://{host}/"
        client = self.auth.add_dashboard_client(self.url)
        self.config = {
            "auth": "cognito",
            "cognitoDomain": self.auth.domain.base_url(),
            "clientId": client.user_pool_client_id,
            "scopes": [OPENID_SCOPE, full_scope(READ_SCOPE), full_scope(TRADE_SCOPE)],
            # The client's one callback (and logout) URL: Cognito wants the very same string.
            "redirectUri": self.url,
        }
        self.deployment = s3deploy.BucketDeployment(
            self,
            "Site",
            sources=[
                s3deploy.Source.asset(str(dashboard_dir)),
                s3deploy.Source.json_data(CONFIG_FILE, self.config),
            ],
            destination_bucket=self.site_bucket,
            distribution=self.distribution,
            distribution_paths=["/*"],
            log_group=logs.LogGroup(
                self, "SiteDeploymentLogs", retention=LOG_RETENTION, removal_policy=RemovalPolicy.DESTROY
            ),
        )

        self.authorizer = authorizers.HttpUserPoolAuthorizer(
            "CognitoJwt", self.auth.user_pool, user_pool_clients=[client]
        )
        integration = integrations.HttpLambdaIntegration("ApiFunction", api_function)
        self.public_routes: list[apigw.HttpRoute] = []
        for path in PUBLIC_ROUTES:
            self.public_routes += self.http_api.add_routes(
                path=path,
                methods=[apigw.HttpMethod.GET],
                integration=integration,
                authorizer=apigw.HttpNoneAuthorizer(),
            )
        self.http_api.add_routes(
            path=PROXY_ROUTE,
            methods=[apigw.HttpMethod.GET],
            integration=integration,
            authorizer=self.authorizer,
            authorization_scopes=list(READ_SCOPES),
        )
        self.http_api.add_routes(
            path=PROXY_ROUTE,
            methods=[apigw.HttpMethod.ANY],
            integration=integration,
            authorizer=self.authorizer,
            authorization_scopes=list(TRADE_SCOPES),
        )
        self._acknowledge()

    def _acknowledge(self) -> None:
        for route in self.public_routes:
            acknowledge(
                route,
                "AwsSolutions-APIG4",
                "Public by design: the health check and the OpenAPI document carry no trading data "
                "(smart0dte.services.api PUBLIC_PATHS); every other route needs the Cognito JWT.",
            )
        acknowledge(
            self.distribution,
            "AwsSolutions-CFR1",
            "The operator may trade from anywhere; access is gated by Cognito sign-in with MFA, not by "
            "geography.",
        )
        acknowledge(
            self.distribution,
            "AwsSolutions-CFR2",
            "No WAF web ACL (a monthly cost): the static site is public anyway, and the API behind "
            "/api/* needs a Cognito JWT and is throttled at the API Gateway stage.",
        )
        acknowledge(
            self.distribution,
            "AwsSolutions-CFR3",
            "API calls are logged by the HTTP API stage's access log; CloudFront standard logs would need "
            "an ACL-enabled log bucket, and the static files they would record are public.",
        )
        if self.domain is None:
            acknowledge(
                self.distribution,
                "AwsSolutions-CFR4",
                "No custom domain: the default *.cloudfront.net certificate's TLS policy is set by "
                "CloudFront (it still accepts TLSv1). Deploy with -c domainName= -c certificateArn= "
                "for TLSv1.2_2021 at the minimum.",
            )
        role = self.deployment.handler_role
        acknowledge(
            role,
            "AwsSolutions-IAM4",
            "CDK's BucketDeployment handler writes its own logs with AWSLambdaBasicExecutionRole.",
            "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
        )
        stack = Stack.of(self)
        assets = finding_resource(  # tokens locally; the account and region once the CLI binds them
            self,
            f"arn:{stack.partition}:s3:::cdk-{DefaultStackSynthesizer.DEFAULT_QUALIFIER}-assets-"
            f"{stack.account}-{stack.region}/*",
        )
        acknowledge(
            role,
            "AwsSolutions-IAM5",
            "Generated by CDK's BucketDeployment: it reads the site asset from the bootstrap asset "
            "bucket, replaces the objects of the site bucket (prune) and invalidates the distribution "
            "(CloudFront invalidations are granted on *); no other bucket is reachable.",
            *(
                f"Action::s3:{action}*"
                for action in ("GetBucket", "GetObject", "List", "Abort", "DeleteObject")
            ),
            assets,
            finding_resource(self, self.site_bucket.arn_for_objects("*")),
            "Resource::*",
        )
        for child in stack.node.children:
            if child.node.id.startswith("Custom::CDKBucketDeployment"):
                acknowledge(
                    child,
                    "AwsSolutions-L1",
                    "The BucketDeployment handler's runtime is chosen by aws-cdk-lib; it moves with the "
                    "CDK version.",
                )
