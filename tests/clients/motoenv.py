"""A moto server that really enforces IAM: the S3 at the end of the grantd path.

Setup (bucket, an admin user, one IAM role per grant whose policy allows only
that grant's prefix) runs while moto accepts unauthenticated calls
(INITIAL_NO_AUTH_ACTION_COUNT); then /moto-api/reset-auth turns signature and
policy checks on for every later request. The grants file points the grantd
emulator's [assume_role] at moto's STS, so each vended key is a real
AssumeRole session of the grant's role and moto denies anything outside it.

For the S3 endpoint (s3_grants_toml), setup also makes the daemon's base
identity: an IAM user with long-term keys standing for a SageMaker execution
role (EXEC_USER), allowed its own bucket (NO_GRANT_BUCKET, which no grant
covers) and sts:GetCallerIdentity, and nothing on the grants bucket. Moto's
log names the key id of every request (moto_server_sigfix.py), read by
Moto.requests().

For the Studio seed notebook (test_studio_seed.py), setup also makes a real
execution *role* (EXEC_ROLE): the space's identity, served to the daemon by
a stand-in of Studio's credentials endpoint as an AssumeRole session of it
(Moto.exec_role_session), allowed STS, SageMaker, passing itself, and the
default bucket, and nothing of the grants bucket.
"""

from __future__ import annotations

import json
from pathlib import Path

from conftest import (
    ACCOUNT, BUCKET, ROLE_A_ARN, ROLE_A_KEY, ROLE_B_ARN, VENV_BIN, Service, base_env, free_port, http, wait_for,
)

MOTO_ACCOUNT = "123456789012"  # moto's default account: where roles and keys live

# grant name -> (grantees, prefix)
GRANTS = {
    "usera": ([ROLE_A_ARN], "UserA/"),
    "product": ([ROLE_A_ARN, ROLE_B_ARN], "Product/"),
    "userb": ([ROLE_B_ARN], "UserB/"),
}

# The S3 endpoint's stack (s3_grants_toml): the daemon's base identity is an
# IAM user standing for a SageMaker execution role. It may use its own bucket,
# which no grant covers, and nothing of the grants bucket: there, only the
# grants' credentials open anything.
EXEC_USER = "grantd-test-exec"
EXEC_USER_ARN = f"arn:aws:iam::{MOTO_ACCOUNT}:user/{EXEC_USER}"
NO_GRANT_BUCKET = f"sagemaker-us-east-1-{MOTO_ACCOUNT}"
# RoleA's grants in that stack: (permission, prefix, moto role minting them).
# Product/ is READ only, minted by a read-only role, so S3 itself refuses a
# write with the keys of that grant; TeamA/ is a second writable scope, for
# requests split across two grants (DeleteObjects).
S3_GRANTS = [
    ("READ", "Product/", "product-read"),
    ("READWRITE", "UserA/", "usera"),
    ("READWRITE", "TeamA/", "teama"),
]
READ_ACTIONS = ["s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectAcl", "s3:ListMultipartUploadParts"]


def role_arn(name: str) -> str:
    return f"arn:aws:iam::{MOTO_ACCOUNT}:role/grantd-test-{name}"


def prefix_policy(prefix: str, actions: str | list[str] = "s3:*") -> str:
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": actions, "Resource": f"arn:aws:s3:::{BUCKET}/{prefix}*"},
            {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": f"arn:aws:s3:::{BUCKET}",
             "Condition": {"StringLike": {"s3:prefix": f"{prefix}*"}}},
        ],
    })


# moto role name -> its policy: one per grant of GRANTS and S3_GRANTS.
ROLE_POLICIES = {
    **{name: prefix_policy(prefix) for name, (_, prefix) in GRANTS.items()},
    "product-read": prefix_policy("Product/", READ_ACTIONS),
    "teama": prefix_policy("TeamA/"),
}

EXEC_POLICY = json.dumps({
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": "s3:*",
         "Resource": [f"arn:aws:s3:::{NO_GRANT_BUCKET}", f"arn:aws:s3:::{NO_GRANT_BUCKET}/*"]},
        {"Effect": "Allow", "Action": "sts:GetCallerIdentity", "Resource": "*"},
    ],
})

# The Studio space's execution role (test_studio_seed.py): what a SageMaker
# execution role needs for a seed notebook (its own identity, SageMaker jobs
# that run as itself, the default bucket, which it creates), nothing of the
# grants bucket. The admin user may assume it, as Studio does for the space.
EXEC_ROLE = "grantd-test-exec-role"
EXEC_ROLE_ARN = f"arn:aws:iam::{MOTO_ACCOUNT}:role/{EXEC_ROLE}"
EXEC_ROLE_POLICY = json.dumps({
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": "sts:GetCallerIdentity", "Resource": "*"},
        {"Effect": "Allow", "Action": "sagemaker:*", "Resource": "*"},
        {"Effect": "Allow", "Action": "iam:PassRole", "Resource": EXEC_ROLE_ARN},
        # CreateBucket included: the notebook creates the default bucket.
        {"Effect": "Allow", "Action": "s3:*",
         "Resource": [f"arn:aws:s3:::{NO_GRANT_BUCKET}", f"arn:aws:s3:::{NO_GRANT_BUCKET}/*"]},
    ],
})


class Moto(Service):
    def __init__(self, workdir: Path, enforce: bool = True, buckets: tuple[str, ...] = (BUCKET, NO_GRANT_BUCKET)):
        """buckets: those setup creates (Studio's default bucket is left out
        where the test's notebook creates it)."""
        self.buckets = buckets
        workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.enforce = enforce
        env = base_env(INITIAL_NO_AUTH_ACTION_COUNT="1000000", MOTO_PORT=str(self.port))
        super().__init__(f"moto-{self.port}", [str(VENV_BIN / "python"), str(Path(__file__).with_name("moto_server_sigfix.py")), "-H", "127.0.0.1", "-p", str(self.port)],
                         env, workdir)
        wait_for(lambda: http("GET", self.url + "/moto-api/data.json")[0] == 200, 30, "moto_server", self)
        self.admin_key, self.admin_secret, self.exec_key, self.exec_secret = self._setup()
        if enforce:
            status, _, body = http("POST", self.url + "/moto-api/reset-auth", {"Content-Type": "text/plain"}, b"0")
            assert status == 200, body

    def client(self, service: str, key: str = "AKIAUNAUTHSETUP00000", secret: str = "x", token: str | None = None):
        import boto3
        import botocore.config

        return boto3.client(
            service, endpoint_url=self.url, region_name="us-east-1",
            aws_access_key_id=key, aws_secret_access_key=secret, aws_session_token=token,
            config=botocore.config.Config(retries={"max_attempts": 1}, s3={"addressing_style": "path"}),
        )

    def admin(self, service: str):
        return self.client(service, self.admin_key, self.admin_secret)

    def _setup(self):
        s3, iam = self.client("s3"), self.client("iam")
        for bucket in self.buckets:
            s3.create_bucket(Bucket=bucket)
        iam.create_user(UserName="grantd-test-admin")
        iam.put_user_policy(UserName="grantd-test-admin", PolicyName="admin", PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
        key = iam.create_access_key(UserName="grantd-test-admin")["AccessKey"]
        trust = json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{MOTO_ACCOUNT}:user/grantd-test-admin"}, "Action": "sts:AssumeRole"}]})
        for name, policy in ROLE_POLICIES.items():
            iam.create_role(RoleName=f"grantd-test-{name}", AssumeRolePolicyDocument=trust, MaxSessionDuration=43200)
            iam.put_role_policy(RoleName=f"grantd-test-{name}", PolicyName="grant-prefix", PolicyDocument=policy)
        iam.create_role(RoleName=EXEC_ROLE, AssumeRolePolicyDocument=trust, MaxSessionDuration=43200)
        iam.put_role_policy(RoleName=EXEC_ROLE, PolicyName="execution-role", PolicyDocument=EXEC_ROLE_POLICY)
        iam.create_user(UserName=EXEC_USER)
        iam.put_user_policy(UserName=EXEC_USER, PolicyName="execution-role", PolicyDocument=EXEC_POLICY)
        exec_key = iam.create_access_key(UserName=EXEC_USER)["AccessKey"]
        return key["AccessKeyId"], key["SecretAccessKey"], exec_key["AccessKeyId"], exec_key["SecretAccessKey"]

    def grants_toml(self, extra: str = "") -> str:
        """A grantd-emulate scenario: the demo grants, each minted by its moto role."""
        lines = [
            f'account_id = "{ACCOUNT}"', 'region = "us-east-1"', "",
            "[[identities]]", f'arn = "{ROLE_A_ARN}"', f'access_key_id = "{ROLE_A_KEY}"', "",
            "[[identities]]", f'arn = "{ROLE_B_ARN}"', 'access_key_id = "AKIAGRANTDDEMOROLEB"', "",
        ]
        for name, (grantees, prefix) in GRANTS.items():
            for g in grantees:
                lines += ["[[grants]]", f'grantee = "{g}"', f'target = "s3://{BUCKET}/{prefix}*"',
                          'permission = "READWRITE"', f'role_arn = "{role_arn(name)}"', ""]
        lines += self._assume_role_lines()
        return "\n".join(lines) + extra

    def s3_grants_toml(self) -> str:
        """The S3 endpoint's scenario: the exec user's key id is RoleA (as
        GetCallerIdentity at the emulator tells it), with S3_GRANTS, each minted
        by its moto role; RoleB keeps UserB/, which RoleA has no grant for."""
        lines = [
            f'account_id = "{ACCOUNT}"', 'region = "us-east-1"', "",
            "[[identities]]", f'arn = "{ROLE_A_ARN}"', f'access_key_id = "{self.exec_key}"', "",
            "[[identities]]", f'arn = "{ROLE_B_ARN}"', 'access_key_id = "AKIAGRANTDDEMOROLEB"', "",
        ]
        grants = [(ROLE_A_ARN, p, prefix, role) for p, prefix, role in S3_GRANTS]
        grants.append((ROLE_B_ARN, "READWRITE", "UserB/", "userb"))
        for grantee, permission, prefix, role in grants:
            lines += ["[[grants]]", f'grantee = "{grantee}"', f'target = "s3://{BUCKET}/{prefix}*"',
                      f'permission = "{permission}"', f'role_arn = "{role_arn(role)}"', ""]
        lines += self._assume_role_lines()
        return "\n".join(lines)

    def exec_role_session(self, seconds: int = 3600) -> dict:
        """A real STS session of EXEC_ROLE, minted with the admin keys (as
        Studio mints the space's): AccessKeyId, SecretAccessKey,
        SessionToken, Expiration (a datetime)."""
        sts = self.admin("sts")
        return sts.assume_role(RoleArn=EXEC_ROLE_ARN, RoleSessionName="SageMaker",
                               DurationSeconds=seconds)["Credentials"]

    def studio_grants_toml(self, base_key_id: str) -> str:
        """The Studio seed's scenario: the execution role's session key id
        is RoleA, whose grants are UserA/* and Product/* READWRITE, each
        minted by its prefix-scoped moto role; UserB/ is RoleB's only."""
        lines = [
            f'account_id = "{ACCOUNT}"', 'region = "us-east-1"', "",
            "[[identities]]", f'arn = "{ROLE_A_ARN}"', f'access_key_id = "{base_key_id}"', "",
            "[[identities]]", f'arn = "{ROLE_B_ARN}"', 'access_key_id = "AKIAGRANTDDEMOROLEB"', "",
        ]
        for grantee, prefix, role in [(ROLE_A_ARN, "UserA/", "usera"), (ROLE_A_ARN, "Product/", "product"),
                                      (ROLE_B_ARN, "UserB/", "userb")]:
            lines += ["[[grants]]", f'grantee = "{grantee}"', f'target = "s3://{BUCKET}/{prefix}*"',
                      'permission = "READWRITE"', f'role_arn = "{role_arn(role)}"', ""]
        lines += self._assume_role_lines()
        return "\n".join(lines)

    def _assume_role_lines(self) -> list[str]:
        return ["[assume_role]", f'endpoint = "{self.url}"', f'access_key_id = "{self.admin_key}"',
                f'secret_access_key = "{self.admin_secret}"', 'region = "us-east-1"', ""]

    def requests(self) -> list[tuple[str, str, str]]:
        """(method, path, access key id) of every request moto handled so far,
        from the access log of moto_server_sigfix.py."""
        return [(method, path, key) for method, path, key, _ in self.calls()]

    def calls(self) -> list[tuple[str, str, str, str]]:
        """As requests(), with the X-Amz-Target of JSON-protocol calls
        (e.g. SageMaker.CreateProcessingJob), else ""."""
        out = []
        for line in self.log_text().splitlines():
            if line.startswith("moto-request "):
                _, method, path, rest = line.split(" ", 3)
                key, _, target = rest.partition(" target=")
                out.append((method, path, key.removeprefix("key="), target))
        return out
