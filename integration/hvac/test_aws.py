"""hvac's secrets.aws.* against leasehold, with moto standing in for IAM/STS (authentication
enforced, so a deleted key is really rejected). Effects are checked with boto3 calls signed by the
issued keys."""

import json

import hvac
import pytest
from botocore.exceptions import ClientError

from harness import MotoServer, unique, wait_until

ALLOW_IDENTITY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": ["sts:GetCallerIdentity", "iam:GetUser"], "Resource": "*"}],
}


@pytest.fixture(scope="module")
def moto():
    server = MotoServer()
    yield server
    server.stop()


@pytest.fixture
def aws(client, moto):
    """A fresh aws mount configured with moto's root key; yields the mount point."""
    mount = unique("aws")
    client.sys.enable_secrets_engine("aws", path=mount)
    client.secrets.aws.configure_root_iam_credentials(
        access_key=moto.root[0], secret_key=moto.root[1], region="us-east-1",
        iam_endpoint=moto.endpoint, sts_endpoint=moto.endpoint, mount_point=mount,
    )
    yield mount
    client.sys.disable_secrets_engine(mount)


def rejected(moto, access_key, secret_key):
    try:
        moto.caller_arn(access_key, secret_key)
        return None
    except ClientError as e:
        return e.response["Error"]["Code"]


def test_iam_user_credentials_work_and_die_with_the_lease(client, moto, aws):
    client.secrets.aws.create_or_update_role(
        "deploy", "iam_user", policy_document=ALLOW_IDENTITY, mount_point=aws)
    role = client.secrets.aws.read_role("deploy", mount_point=aws)["data"]
    assert role["credential_type"] == "iam_user"
    assert "deploy" in client.secrets.aws.list_roles(mount_point=aws)["data"]["keys"]

    creds = client.secrets.aws.generate_credentials("deploy", mount_point=aws)
    data = creds["data"]
    assert creds["renewable"] is True and creds["lease_id"].startswith(f"{aws}/creds/deploy/")
    assert data["security_token"] is None
    assert ":user/" in moto.caller_arn(data["access_key"], data["secret_key"])
    # Its policy is all it can do.
    with pytest.raises(ClientError) as denied:
        moto.client("iam", data["access_key"], data["secret_key"]).create_user(UserName=unique("x"))
    assert denied.value.response["Error"]["Code"] == "AccessDenied"

    root = client.read(f"{aws}/config/root")["data"]
    assert "secret_key" not in root and root["access_key"] == moto.root[0]

    client.sys.revoke_lease(creds["lease_id"])
    assert rejected(moto, data["access_key"], data["secret_key"]) == "InvalidClientTokenId"


def test_lease_config_sets_ttl_and_expiry_destroys_the_user(client, moto, aws):
    client.secrets.aws.configure_lease(lease="2s", lease_max="1h", mount_point=aws)
    assert client.secrets.aws.read_lease_config(mount_point=aws)["data"]["lease"]
    client.secrets.aws.create_or_update_role(
        "short", "iam_user", policy_document=ALLOW_IDENTITY, mount_point=aws)
    creds = client.secrets.aws.generate_credentials("short", mount_point=aws)
    assert creds["lease_duration"] == 2
    key = (creds["data"]["access_key"], creds["data"]["secret_key"])
    wait_until(lambda: rejected(moto, *key) == "InvalidClientTokenId", 15,
               "expired AWS key to be rejected")


@pytest.fixture
def own_moto(client):
    """A moto of this test's own, with an aws mount on it, for tests that change the root key."""
    server = MotoServer()
    mount = unique("aws")
    client.sys.enable_secrets_engine("aws", path=mount)
    client.secrets.aws.configure_root_iam_credentials(
        access_key=server.root[0], secret_key=server.root[1], region="us-east-1",
        iam_endpoint=server.endpoint, sts_endpoint=server.endpoint, mount_point=mount)
    yield server, mount
    client.sys.disable_secrets_engine(mount)
    server.stop()


def test_rotate_root_switches_keys(client, own_moto):
    moto, aws = own_moto
    old = moto.root
    resp = client.secrets.aws.rotate_root_iam_credentials(mount_point=aws)
    assert resp["data"]["access_key"] != old[0]
    assert rejected(moto, *old) == "InvalidClientTokenId"
    # The engine keeps working with its new key.
    client.secrets.aws.create_or_update_role(
        "after-rotate", "iam_user", policy_document=ALLOW_IDENTITY, mount_point=aws)
    creds = client.secrets.aws.generate_credentials("after-rotate", mount_point=aws)
    assert moto.caller_arn(creds["data"]["access_key"], creds["data"]["secret_key"])
    client.sys.revoke_lease(creds["lease_id"])


def test_assumed_role_gives_working_sts_credentials(client, own_moto):
    server, mount = own_moto
    iam = server.client("iam", *server.root)
    arn = iam.create_role(
        RoleName="deployer",
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}]}),
    )["Role"]["Arn"]
    client.secrets.aws.create_or_update_role(
        "assume", "assumed_role", role_arns=[arn], mount_point=mount)
    creds = client.secrets.aws.generate_credentials("assume", endpoint="sts", mount_point=mount)
    data = creds["data"]
    assert creds["renewable"] is False
    assert data["security_token"]
    assert "assumed-role/deployer" in server.caller_arn(
        data["access_key"], data["secret_key"], data["security_token"])
    with pytest.raises(hvac.exceptions.InvalidRequest):
        client.sys.renew_lease(creds["lease_id"])


def test_bad_role_input_is_a_400_naming_the_field(client, aws):
    with pytest.raises(hvac.exceptions.InvalidRequest) as e:
        client.write(f"{aws}/roles/bad", credential_type="iam_user", policy_document="{not json")
    assert "policy_document" in str(e.value)
    with pytest.raises(hvac.exceptions.InvalidRequest) as e:
        client.write(f"{aws}/roles/bad", credential_type="rocket")
    assert "credential_type" in str(e.value)
