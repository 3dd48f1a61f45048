"""Who may call the API: a Cognito user pool of invited users (no self sign-up), its `smart0dte`
resource server with the `read` and `trade` scopes, a hosted-UI domain, and the dashboard's app
client (authorization code with PKCE, no secret), added once the dashboard URL is known."""

from __future__ import annotations

from aws_cdk import Aws, Duration, RemovalPolicy
from aws_cdk import aws_cognito as cognito
from constructs import Construct

from .nag import acknowledge

RESOURCE_SERVER = "smart0dte"
READ_SCOPE = "read"
TRADE_SCOPE = "trade"
OPENID_SCOPE = "openid"
SCOPES = {
    READ_SCOPE: "read the dashboard: P&L, positions, signals, analytics, audit",
    TRADE_SCOPE: "change trading: settings, pause, emergency stop, backtests, reset (includes read)",
}
PASSWORD_MIN_LENGTH = 14
ACCESS_TOKEN_VALIDITY = Duration.hours(1)
REFRESH_TOKEN_VALIDITY = Duration.hours(12)


def full_scope(scope: str) -> str:
    """The scope as a Cognito access token carries it, e.g. `smart0dte/trade`."""
    return f"{RESOURCE_SERVER}/{scope}"


class Auth(Construct):
    """The user pool, resource server and domain; `add_dashboard_client` adds the app client."""

    def __init__(self, scope: Construct, construct_id_: str, *, prefix: str) -> None:
        super().__init__(scope, construct_id_)
        self.user_pool = cognito.UserPool(
            self,
            "UserPool",
            user_pool_name=prefix,
            self_sign_up_enabled=False,  # users are invited: aws cognito-idp admin-create-user
            sign_in_aliases=cognito.SignInAliases(email=True),
            sign_in_case_sensitive=False,
            auto_verify=cognito.AutoVerifiedAttrs(email=True),
            account_recovery=cognito.AccountRecovery.EMAIL_ONLY,
            password_policy=cognito.PasswordPolicy(
                min_length=PASSWORD_MIN_LENGTH,
                require_lowercase=True,
                require_uppercase=True,
                require_digits=True,
                require_symbols=True,
                temp_password_validity=Duration.days(3),
            ),
            # Authenticator apps only: free, and no SMS role or spend. The hosted UI enrols the
            # app at the first sign-in.
            mfa=cognito.Mfa.REQUIRED,
            mfa_second_factor=cognito.MfaSecondFactor(otp=True, sms=False),
            feature_plan=cognito.FeaturePlan.ESSENTIALS,
            removal_policy=RemovalPolicy.RETAIN,
        )
        acknowledge(
            self.user_pool,
            "AwsSolutions-COG8",
            "Threat protection needs the Plus feature plan, billed per monthly active user; a handful "
            "of invited users with required TOTP MFA and a strong password policy stay on Essentials.",
        )
        self.scopes = {
            name: cognito.ResourceServerScope(scope_name=name, scope_description=text)
            for name, text in SCOPES.items()
        }
        self.resource_server = self.user_pool.add_resource_server(
            "ResourceServer",
            identifier=RESOURCE_SERVER,
            user_pool_resource_server_name=f"{prefix} API",
            scopes=list(self.scopes.values()),
        )
        self.domain = self.user_pool.add_domain(
            "Domain",
            # Globally unique per region: the stage prefix and the account id.
            cognito_domain=cognito.CognitoDomainOptions(domain_prefix=f"{prefix}-{Aws.ACCOUNT_ID}"),
        )
        self.client: cognito.UserPoolClient | None = None

    def add_dashboard_client(self, callback_url: str) -> cognito.UserPoolClient:
        """The dashboard's public client: authorization code (PKCE) back to `callback_url`."""
        oauth_scopes = [
            cognito.OAuthScope.OPENID,
            cognito.OAuthScope.EMAIL,
            # Literal names (the client depends on the resource server below), as tokens carry them.
            *(cognito.OAuthScope.custom(full_scope(name)) for name in self.scopes),
        ]
        self.client = self.user_pool.add_client(
            "DashboardClient",
            generate_secret=False,
            auth_flows=cognito.AuthFlow(user_srp=True),
            o_auth=cognito.OAuthSettings(
                flows=cognito.OAuthFlows(authorization_code_grant=True),
                scopes=oauth_scopes,
                callback_urls=[callback_url],
                logout_urls=[callback_url],
            ),
            supported_identity_providers=[cognito.UserPoolClientIdentityProvider.COGNITO],
            prevent_user_existence_errors=True,
            enable_token_revocation=True,
            access_token_validity=ACCESS_TOKEN_VALIDITY,
            id_token_validity=ACCESS_TOKEN_VALIDITY,
            refresh_token_validity=REFRESH_TOKEN_VALIDITY,
        )
        self.client.node.add_dependency(self.resource_server)
        return self.client
