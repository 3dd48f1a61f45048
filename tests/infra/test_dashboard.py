"""The dashboard in the synthesized stack: the API function's environment and least privilege, the
HTTP API with Cognito's JWT authorizer (public health, everything else authenticated), the user
pool, CloudFront in front of a private bucket and the API, the stack outputs, and the error when
the dashboard was never built."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from smart0dte_infra.access import (
    RESET_REPORT_PREFIXES,
    AccessMatrixError,
    FunctionAccess,
    access_for,
)
from smart0dte_infra.dashboard import PUBLIC_ROUTES, DashboardNotBuiltError

from smart0dte import resources as r

from .conftest import FAKE_DASHBOARD_MARKER, REPO_ROOT, Synth, write_fake_repo
from .template_queries import (
    READ,
    WRITE,
    XRAY,
    actions_on,
    actions_on_any_resource,
    allowed,
    grants,
    logical_id,
    mentions,
    resources_of_type,
    role_of,
)

PREFIX = r.DEFAULT_PREFIX
CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
CACHING_OPTIMIZED = "658327ea-f89d-4fab-a63d-7e88639e58f6"
ALL_VIEWER_EXCEPT_HOST_HEADER = "b689b0a8-53d0-40ab-baf2-68738e2966ac"
"""AWS managed policy ids. With caching disabled, AllViewerExceptHostHeader forwards every viewer
header but Host, Authorization included, and the query string."""
API = next(f for f in r.FUNCTIONS if f.name == "api")


@pytest.fixture(scope="module")
def t(synth: Synth) -> dict[str, Any]:
    return synth.template_json


def the(t: dict[str, Any], cfn_type: str) -> tuple[str, dict[str, Any]]:
    """The one resource of a type: (logical id, properties)."""
    found = resources_of_type(t, cfn_type)
    assert len(found) == 1, f"{cfn_type}: {sorted(found)}"
    ((key, value),) = found.items()
    return key, value.get("Properties", {})


def api_function(t: dict[str, Any]) -> str:
    return logical_id(t, "AWS::Lambda::Function", FunctionName=API.physical_name(PREFIX))


def api_role(t: dict[str, Any]) -> str:
    return role_of(t, api_function(t))


def table_id(t: dict[str, Any], spec: r.TableSpec) -> str:
    return logical_id(t, "AWS::DynamoDB::Table", TableName=spec.physical_name(PREFIX))


def machine_id(t: dict[str, Any], name: str) -> str:
    spec = next(s for s in r.STATE_MACHINES if s.name == name)
    return logical_id(t, "AWS::StepFunctions::StateMachine", StateMachineName=spec.physical_name(PREFIX))


def bucket_of_spec(t: dict[str, Any], spec: r.BucketSpec) -> str:
    start = json.dumps(spec.physical_name(PREFIX, account=""))
    (found,) = [k for k, v in resources_of_type(t, "AWS::S3::Bucket").items() if start in json.dumps(v)]
    return found


def site_bucket(t: dict[str, Any]) -> str:
    (found,) = [k for k in resources_of_type(t, "AWS::S3::Bucket") if k.startswith("DashboardSiteBucket")]
    return found


# --- the API function ----------------------------------------------------------------------------


def test_api_function_is_named_and_sized_from_its_spec_with_the_shared_layers(synth: Synth) -> None:
    props = synth.template_json["Resources"][api_function(synth.template_json)]["Properties"]
    assert (props["MemorySize"], props["Timeout"]) == (API.memory_mb, API.timeout_s)
    assert API.timeout_s < 30, "API Gateway stops waiting for an HTTP API integration at 30 s"
    assert len(props["Layers"]) == 2
    assert props["TracingConfig"] == {"Mode": "Active"}


def test_api_environment_names_its_tables_the_reports_bucket_and_the_backtest_workflow(
    t: dict[str, Any],
) -> None:
    variables = t["Resources"][api_function(t)]["Properties"]["Environment"]["Variables"]
    assert variables["SMART0DTE_PREFIX"] == PREFIX
    assert variables["SMART0DTE_ACCOUNT"] == {"Ref": "AWS::AccountId"}
    assert variables["POWERTOOLS_SERVICE_NAME"] == "api"
    for spec in (r.CONTROL_TABLE, r.TRADING_TABLE, r.MARKET_TABLE, r.AUDIT_TABLE):
        assert variables[f"SMART0DTE_TABLE_{spec.logical_name.upper()}"] == {"Ref": table_id(t, spec)}
    assert "SMART0DTE_TABLE_IDEMPOTENCY" not in variables
    assert variables["SMART0DTE_BUCKET_REPORTS"] == {"Ref": bucket_of_spec(t, r.REPORTS_BUCKET)}
    assert variables[r.state_machine_arn_env("backtest")] == {"Ref": machine_id(t, "backtest")}
    assert r.queue_url_env(r.ORDER_INTENT_QUEUE) not in variables


def test_api_may_read_this_stages_schedules_and_nothing_more_of_the_scheduler(t: dict[str, Any]) -> None:
    role = api_role(t)
    variables = t["Resources"][api_function(t)]["Properties"]["Environment"]["Variables"]
    assert variables["SMART0DTE_SCHEDULE_GROUP"] == PREFIX
    assert allowed(t, role, "scheduler:ListSchedules") == ["*"]
    (schedules,) = allowed(t, role, "scheduler:GetSchedule")
    assert f":schedule/{PREFIX}/*" in json.dumps(schedules)
    for action in ("CreateSchedule", "UpdateSchedule", "DeleteSchedule"):
        assert allowed(t, role, f"scheduler:{action}") == [], action


def test_api_reads_and_writes_trading_state_and_only_appends_to_the_audit_log(t: dict[str, Any]) -> None:
    role = api_role(t)
    assert actions_on(t, role, table_id(t, r.CONTROL_TABLE)) == READ | WRITE
    # POST /api/reset finds paper records by a Scan and deletes them in batches.
    assert actions_on(t, role, table_id(t, r.TRADING_TABLE)) == READ | WRITE | {"dynamodb:Scan"}
    assert actions_on(t, role, table_id(t, r.MARKET_TABLE)) == READ
    assert actions_on(t, role, table_id(t, r.AUDIT_TABLE)) == READ | {"dynamodb:PutItem"}
    assert actions_on(t, role, table_id(t, r.IDEMPOTENCY_TABLE)) == set()
    assert [res for res in allowed(t, role, "dynamodb:*") if res == "*"] == []


def test_api_reads_reports_deletes_only_paper_results_and_touches_no_other_bucket(t: dict[str, Any]) -> None:
    role = api_role(t)
    reports = bucket_of_spec(t, r.REPORTS_BUCKET)
    assert actions_on(t, role, reports) == {"s3:GetObject", "s3:ListBucket", "s3:DeleteObject"}
    deletable = allowed(t, role, "s3:DeleteObject")
    assert sorted(deletable, key=json.dumps) == sorted(
        (
            {"Fn::Join": ["", [{"Fn::GetAtt": [reports, "Arn"]}, f"/{prefix}*"]]}
            for prefix in RESET_REPORT_PREFIXES
        ),
        key=json.dumps,
    )
    assert "daily/live/" not in json.dumps(deletable)
    for spec in (r.ARCHIVE_BUCKET, r.MODELS_BUCKET):
        assert actions_on(t, role, bucket_of_spec(t, spec)) == set(), spec.logical_name
    assert allowed(t, role, "s3:PutObject") == []
    # the emergency stop and resume are notified on the alert topic, and nothing else is published
    topic = logical_id(t, "AWS::SNS::Topic", TopicName=r.ALERT_TOPIC.physical_name(PREFIX))
    published = allowed(t, role, "sns:Publish")
    assert len(published) == 1 and mentions(published[0], topic)
    for action in (
        "sqs:SendMessage",
        "scheduler:CreateSchedule",
        "iam:PassRole",
        "lambda:InvokeFunction",
    ):
        assert allowed(t, role, action) == [], action


def test_the_deletable_prefixes_are_where_paper_reports_and_results_are_written() -> None:
    from smart0dte.domain.models import TradingMode
    from smart0dte.services.post_close import report_key

    paper, live = r.daily_reports_prefix(TradingMode.PAPER), r.daily_reports_prefix(TradingMode.LIVE)
    assert paper in RESET_REPORT_PREFIXES and live not in RESET_REPORT_PREFIXES
    assert report_key(TradingMode.PAPER, "2025-03-14").startswith(paper)
    assert r.optimization_key("momentum_breakout").startswith(r.OPTIMIZATION_PREFIX)
    assert {r.BACKTESTS_PREFIX, r.OPTIMIZATION_PREFIX} < set(RESET_REPORT_PREFIXES)


def test_api_starts_lists_and_stops_only_the_backtest_workflows_runs(t: dict[str, Any]) -> None:
    role = api_role(t)
    for action in ("states:StartExecution", "states:ListExecutions"):
        assert allowed(t, role, action) == [{"Ref": machine_id(t, "backtest")}]
    backtest = next(s for s in r.STATE_MACHINES if s.name == "backtest")
    for action in ("states:DescribeExecution", "states:StopExecution"):
        (resource,) = allowed(t, role, action)
        assert json.dumps(resource).endswith(f':execution:{backtest.physical_name(PREFIX)}:*"]]}}')
    states = {a for a, _, _ in grants(t, role) if a.startswith("states:")}
    assert states == {
        "states:StartExecution",
        "states:ListExecutions",
        "states:DescribeExecution",
        "states:StopExecution",
    }


def test_api_has_no_wildcard_actions_and_only_x_ray_and_listing_schedules_on_any_resource(
    t: dict[str, Any],
) -> None:
    role = api_role(t)
    assert [a for a, _, _ in grants(t, role) if "*" in a] == []
    assert actions_on_any_resource(t, role) == XRAY | {"scheduler:ListSchedules"}


def test_unknown_workflows_and_deletes_without_bucket_access_fail() -> None:
    from smart0dte_infra import access

    original = access.ACCESS["api"]
    access.ACCESS["api"] = FunctionAccess(starts_workflows=("nonesuch",))
    try:
        with pytest.raises(AccessMatrixError, match="nonesuch"):
            access_for()
        access.ACCESS["api"] = FunctionAccess(deletes_objects={r.REPORTS_BUCKET: ("x/",)})
        with pytest.raises(AccessMatrixError, match="reports"):
            access_for()
    finally:
        access.ACCESS["api"] = original


# --- the HTTP API ------------------------------------------------------------------------------


def routes(t: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        v["Properties"]["RouteKey"]: v["Properties"]
        for v in resources_of_type(t, "AWS::ApiGatewayV2::Route").values()
    }


def test_jwt_authorizer_trusts_the_user_pool_and_the_dashboard_client_only(t: dict[str, Any]) -> None:
    authorizer_id, authorizer = the(t, "AWS::ApiGatewayV2::Authorizer")
    pool, _ = the(t, "AWS::Cognito::UserPool")
    client, _ = the(t, "AWS::Cognito::UserPoolClient")
    assert authorizer["AuthorizerType"] == "JWT"
    assert authorizer["IdentitySource"] == ["$request.header.Authorization"]
    assert authorizer["JwtConfiguration"]["Audience"] == [{"Ref": client}]
    issuer = json.dumps(authorizer["JwtConfiguration"]["Issuer"])
    assert '"https://cognito-idp."' in issuer and f'{{"Ref": "{pool}"}}' in issuer
    assert authorizer_id


def test_only_the_public_paths_of_the_service_are_unauthenticated(t: dict[str, Any]) -> None:
    from smart0dte.services.api import PUBLIC_PATHS

    assert set(PUBLIC_ROUTES) == PUBLIC_PATHS
    found = routes(t)
    public = {key for key, props in found.items() if props["AuthorizationType"] == "NONE"}
    assert public == {f"GET {path}" for path in PUBLIC_PATHS}
    assert "GET /api/health" in public
    assert set(found) == public | {"GET /api/{proxy+}", "ANY /api/{proxy+}"}


def test_every_other_route_needs_the_jwt_with_a_dashboard_scope(t: dict[str, Any]) -> None:
    authorizer, _ = the(t, "AWS::ApiGatewayV2::Authorizer")
    found = routes(t)
    for key in ("GET /api/{proxy+}", "ANY /api/{proxy+}"):
        assert found[key]["AuthorizationType"] == "JWT", key
        assert found[key]["AuthorizerId"] == {"Ref": authorizer}, key
    assert sorted(found["GET /api/{proxy+}"]["AuthorizationScopes"]) == ["smart0dte/read", "smart0dte/trade"]
    assert found["ANY /api/{proxy+}"]["AuthorizationScopes"] == ["smart0dte/trade"]


def test_every_route_reaches_the_api_function(t: dict[str, Any]) -> None:
    integrations = resources_of_type(t, "AWS::ApiGatewayV2::Integration")
    assert len(integrations) == 1
    ((integration_id, integration),) = integrations.items()
    assert integration["Properties"]["IntegrationUri"] == {"Fn::GetAtt": [api_function(t), "Arn"]}
    assert integration["Properties"]["PayloadFormatVersion"] == "2.0"
    for key, props in routes(t).items():
        assert props["Target"] == {"Fn::Join": ["", ["integrations/", {"Ref": integration_id}]]}, key


def test_stage_is_throttled_auto_deployed_and_logs_access_to_a_retained_log_group(t: dict[str, Any]) -> None:
    _, stage = the(t, "AWS::ApiGatewayV2::Stage")
    assert stage["StageName"] == "$default" and stage["AutoDeploy"] is True
    throttle = stage["DefaultRouteSettings"]
    assert 0 < throttle["ThrottlingRateLimit"] <= throttle["ThrottlingBurstLimit"]
    group = stage["AccessLogSettings"]["DestinationArn"]["Fn::GetAtt"][0]
    assert t["Resources"][group]["Properties"]["RetentionInDays"] == 90
    fields = json.loads(stage["AccessLogSettings"]["Format"])
    assert {"requestId", "ip", "routeKey", "status", "user", "authorizerError"} <= set(fields)


# --- Cognito -----------------------------------------------------------------------------------


def test_user_pool_is_invitation_only_with_a_strong_password_and_required_totp(t: dict[str, Any]) -> None:
    _, pool = the(t, "AWS::Cognito::UserPool")
    assert pool["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True
    policy = pool["Policies"]["PasswordPolicy"]
    assert policy["MinimumLength"] >= 12
    assert all(
        policy[k] for k in ("RequireLowercase", "RequireUppercase", "RequireNumbers", "RequireSymbols")
    )
    assert pool["MfaConfiguration"] == "ON"
    assert pool["EnabledMfas"] == ["SOFTWARE_TOKEN_MFA"]
    assert pool.get("UserPoolAddOns", {}).get("AdvancedSecurityMode", "OFF") == "OFF"  # a paid add-on
    assert pool["UserPoolTier"] != "PLUS"


def test_resource_server_offers_read_and_trade(t: dict[str, Any]) -> None:
    _, server = the(t, "AWS::Cognito::UserPoolResourceServer")
    assert server["Identifier"] == "smart0dte"
    assert sorted(s["ScopeName"] for s in server["Scopes"]) == ["read", "trade"]


def test_dashboard_client_is_public_code_flow_back_to_the_distribution(t: dict[str, Any]) -> None:
    _, client = the(t, "AWS::Cognito::UserPoolClient")
    distribution, _ = the(t, "AWS::CloudFront::Distribution")
    assert client.get("GenerateSecret", False) is False
    assert client["AllowedOAuthFlows"] == ["code"]
    assert client["AllowedOAuthFlowsUserPoolClient"] is True
    assert {"smart0dte/read", "smart0dte/trade", "openid"} <= set(client["AllowedOAuthScopes"])
    assert client["CallbackURLs"] == [
        {"Fn::Join": ["", ["https://", {"Fn::GetAtt": [distribution, "DomainName"]}, "/"]]}
    ]
    assert client["SupportedIdentityProviders"] == ["COGNITO"]
    assert client["PreventUserExistenceErrors"] == "ENABLED"
    the(t, "AWS::Cognito::UserPoolDomain")


# --- CloudFront and the site bucket -------------------------------------------------------------


def behaviours(t: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], dict[str, dict[str, Any]]]:
    """(default behaviour, the /api/* behaviour, origins by id)."""
    _, props = the(t, "AWS::CloudFront::Distribution")
    config = props["DistributionConfig"]
    (api,) = config["CacheBehaviors"]
    assert api["PathPattern"] == "/api/*"
    return config["DefaultCacheBehavior"], api, {o["Id"]: o for o in config["Origins"]}


def test_distribution_serves_index_html_from_the_private_bucket_through_oac(t: dict[str, Any]) -> None:
    _, props = the(t, "AWS::CloudFront::Distribution")
    assert props["DistributionConfig"]["DefaultRootObject"] == "index.html"
    default, _, origins = behaviours(t)
    origin = origins[default["TargetOriginId"]]
    assert origin["DomainName"] == {"Fn::GetAtt": [site_bucket(t), "RegionalDomainName"]}
    oac, oac_props = the(t, "AWS::CloudFront::OriginAccessControl")
    assert origin["OriginAccessControlId"] == {"Fn::GetAtt": [oac, "Id"]}
    assert oac_props["OriginAccessControlConfig"]["OriginAccessControlOriginType"] == "s3"
    assert oac_props["OriginAccessControlConfig"]["SigningBehavior"] == "always"
    assert default["ViewerProtocolPolicy"] == "redirect-to-https"
    assert default["CachePolicyId"] == CACHING_OPTIMIZED
    assert default["AllowedMethods"] == ["GET", "HEAD"]


def test_api_behaviour_is_uncached_https_only_and_forwards_authorization(t: dict[str, Any]) -> None:
    _, api, origins = behaviours(t)
    http_api, _ = the(t, "AWS::ApiGatewayV2::Api")
    origin = origins[api["TargetOriginId"]]
    assert f'{{"Ref": "{http_api}"}}, ".execute-api."' in json.dumps(origin["DomainName"])
    assert origin["CustomOriginConfig"] == {
        "OriginProtocolPolicy": "https-only",
        "OriginSSLProtocols": ["TLSv1.2"],
    }
    assert api["CachePolicyId"] == CACHING_DISABLED
    assert api["OriginRequestPolicyId"] == ALL_VIEWER_EXCEPT_HOST_HEADER
    assert api["ViewerProtocolPolicy"] == "https-only"
    assert {"GET", "POST", "PUT", "PATCH", "DELETE"} <= set(api["AllowedMethods"])


def test_both_behaviours_send_security_headers(t: dict[str, Any]) -> None:
    policy, props = the(t, "AWS::CloudFront::ResponseHeadersPolicy")
    default, api, _ = behaviours(t)
    assert default["ResponseHeadersPolicyId"] == api["ResponseHeadersPolicyId"] == {"Ref": policy}
    security = props["ResponseHeadersPolicyConfig"]["SecurityHeadersConfig"]
    assert security["StrictTransportSecurity"]["AccessControlMaxAgeSec"] >= 31_536_000
    assert security["FrameOptions"]["FrameOption"] == "DENY"
    assert security["ReferrerPolicy"]["ReferrerPolicy"] == "no-referrer"
    assert security["ContentTypeOptions"]["Override"] is True
    assert "frame-ancestors 'none'" in json.dumps(security["ContentSecurityPolicy"]["ContentSecurityPolicy"])


def test_site_bucket_is_private_tls_only_and_readable_only_by_the_distribution(t: dict[str, Any]) -> None:
    bucket = site_bucket(t)
    props = t["Resources"][bucket]["Properties"]
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert "WebsiteConfiguration" not in props
    (policy,) = [
        v["Properties"]["PolicyDocument"]["Statement"]
        for v in resources_of_type(t, "AWS::S3::BucketPolicy").values()
        if v["Properties"]["Bucket"] == {"Ref": bucket}
    ]
    assert any(
        s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in policy
    )
    (allow,) = [s for s in policy if s["Effect"] == "Allow"]
    distribution, _ = the(t, "AWS::CloudFront::Distribution")
    assert allow["Principal"] == {"Service": "cloudfront.amazonaws.com"}
    assert allow["Action"] == "s3:GetObject"
    assert f'{{"Ref": "{distribution}"}}' in json.dumps(allow["Condition"]["StringEquals"]["AWS:SourceArn"])


def staged(synth: Synth, key: str) -> Path:
    return synth.outdir / f"asset.{key.removesuffix('.zip')}"


def test_the_dashboard_directory_is_deployed_to_the_bucket_and_invalidated(synth: Synth) -> None:
    t = synth.template_json
    _, deployment = the(t, "Custom::CDKBucketDeployment")
    distribution, _ = the(t, "AWS::CloudFront::Distribution")
    assert deployment["DestinationBucketName"] == {"Ref": site_bucket(t)}
    assert deployment["DistributionId"] == {"Ref": distribution}
    assert deployment["DistributionPaths"] == ["/*"]
    site, _config = deployment["SourceObjectKeys"]
    assert FAKE_DASHBOARD_MARKER in (staged(synth, site) / "index.html").read_text()
    assert (staged(synth, site) / "assets" / "app.js").is_file()


def unquoted(value: Any) -> Any:
    """A marker's value without the JSON quotes the deployment writes around it: a Fn::Join of
    `"`, the token and `"` becomes the token (or the Fn::Join of its parts)."""
    (sep, parts) = value["Fn::Join"]
    assert sep == "" and parts[0].startswith('"') and parts[-1].endswith('"'), value
    parts = [parts[0][1:], *parts[1:-1], parts[-1][:-1]] if len(parts) > 1 else [parts[0][1:-1]]
    parts = [p for p in parts if p != ""]
    return parts[0] if len(parts) == 1 else {"Fn::Join": ["", parts]}


def deployed_config(synth: Synth) -> dict[str, Any]:
    """config.json as the deployment writes it: the staged file with its markers replaced by the
    CloudFormation values they stand for."""
    _, deployment = the(synth.template_json, "Custom::CDKBucketDeployment")
    _, key = deployment["SourceObjectKeys"]
    _, markers = deployment["SourceMarkers"]
    text = (staged(synth, key) / "config.json").read_text()
    for marker in markers:
        text = text.replace(marker, json.dumps(marker))  # the file holds them bare, as raw JSON
    config = json.loads(text)
    return {k: unquoted(markers[v]) if isinstance(v, str) and v in markers else v for k, v in config.items()}


def test_config_json_tells_the_dashboard_to_sign_in_with_the_user_pool_client(synth: Synth) -> None:
    t = synth.template_json
    config = deployed_config(synth)
    client_id, client = the(t, "AWS::Cognito::UserPoolClient")
    domain, _ = the(t, "AWS::Cognito::UserPoolDomain")
    assert config["auth"] == "cognito"
    assert config["clientId"] == {"Ref": client_id}
    (callback,) = client["CallbackURLs"]
    assert config["redirectUri"] == callback == client["LogoutURLs"][0]
    assert "Fn::GetAtt" in json.dumps(callback) and "DomainName" in json.dumps(callback)
    cognito_domain = json.dumps(config["cognitoDomain"])
    assert cognito_domain.startswith('{"Fn::Join": ["", ["https://", {"Ref": "' + domain + '"}, ".auth."')
    assert cognito_domain == json.dumps(t["Outputs"]["CognitoDomain"]["Value"])
    assert config["scopes"] == ["openid", "smart0dte/read", "smart0dte/trade"]
    assert set(config["scopes"]) <= set(client["AllowedOAuthScopes"])


def test_the_csp_lets_the_dashboard_reach_only_itself_and_the_token_endpoint(synth: Synth) -> None:
    t = synth.template_json
    _, props = the(t, "AWS::CloudFront::ResponseHeadersPolicy")
    domain, _ = the(t, "AWS::Cognito::UserPoolDomain")
    csp = props["ResponseHeadersPolicyConfig"]["SecurityHeadersConfig"]["ContentSecurityPolicy"]
    (sep, parts) = csp["ContentSecurityPolicy"]["Fn::Join"]
    text = sep.join(p if isinstance(p, str) else f"<{json.dumps(p)}>" for p in parts)
    cognito = f'https://<{{"Ref": "{domain}"}}>.auth.<{{"Ref": "AWS::Region"}}>.amazoncognito.com'
    assert f"connect-src 'self' {cognito};" in text
    assert "script-src 'self';" in text


# --- outputs and failures ----------------------------------------------------------------------


def test_outputs_name_the_dashboard_the_api_and_the_sign_in(t: dict[str, Any]) -> None:
    outputs = t["Outputs"]
    distribution, _ = the(t, "AWS::CloudFront::Distribution")
    http_api, _ = the(t, "AWS::ApiGatewayV2::Api")
    pool, _ = the(t, "AWS::Cognito::UserPool")
    client, _ = the(t, "AWS::Cognito::UserPoolClient")
    domain, _ = the(t, "AWS::Cognito::UserPoolDomain")
    assert outputs["DashboardUrl"]["Value"] == {
        "Fn::Join": ["", ["https://", {"Fn::GetAtt": [distribution, "DomainName"]}, "/"]]
    }
    assert outputs["ApiUrl"]["Value"] == {"Fn::GetAtt": [http_api, "ApiEndpoint"]}
    assert outputs["UserPoolId"]["Value"] == {"Ref": pool}
    assert outputs["UserPoolClientId"]["Value"] == {"Ref": client}
    assert f'{{"Ref": "{domain}"}}, ".auth."' in json.dumps(outputs["CognitoDomain"]["Value"])


def test_synthesis_stops_naming_the_build_command_when_the_dashboard_is_not_built(
    tmp_path: Path, deps_layer: Path
) -> None:
    import aws_cdk as cdk
    from smart0dte_infra import Smart0dteStack

    repo = write_fake_repo(tmp_path / "repo")
    (repo / "web" / "dist" / "index.html").unlink()

    with pytest.raises(DashboardNotBuiltError) as raised:
        Smart0dteStack(cdk.App(), "NoDashboard", repo_root=repo, deps_layer_dir=deps_layer)
    message = str(raised.value)
    assert str(repo / "web" / "dist" / "index.html") in message
    assert "make web/dist/index.html" in message and "npm ci && npm run build" in message

    elsewhere = tmp_path / "elsewhere"
    with pytest.raises(DashboardNotBuiltError, match="elsewhere"):
        Smart0dteStack(
            cdk.App(), "NoDashboard", repo_root=repo, deps_layer_dir=deps_layer, dashboard_dir=elsewhere
        )


def test_the_app_exits_with_the_build_command_when_web_dist_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib.util
    import shutil

    spec = importlib.util.spec_from_file_location("smart0dte_cdk_app", REPO_ROOT / "cdk" / "app.py")
    assert spec is not None and spec.loader is not None
    app = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(app)
    repo = write_fake_repo(tmp_path / "repo")
    shutil.rmtree(repo / "web")
    monkeypatch.setattr(app, "REPO_ROOT", repo)
    monkeypatch.setenv("CDK_OUTDIR", str(tmp_path / "cdk.out"))

    with pytest.raises(SystemExit) as raised:
        app.main()
    assert "make web/dist/index.html" in str(raised.value.code)
