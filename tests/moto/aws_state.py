#!/usr/bin/env python3
"""Arrange and inspect a moto server for the CLI's end-to-end tests (cli/tests/e2e/deploy.rs).

    python3 aws_state.py --endpoint URL COMMAND [ARGS...]

Each command prints JSON on stdout. The arranging commands stand in for what moto cannot do
(DESIGN §7); each says which gap it covers. Nothing here is called by the CLI itself.
"""

import argparse
import json
import sys

import boto3


def clients(endpoint, region):
    def client(service, region_name=region):
        return boto3.client(
            service,
            endpoint_url=endpoint,
            region_name=region_name,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    return client


def edge_resources(client, stack, region):
    """moto's CloudFormation skips WAFv2 and CloudFront resources. Create the web ACL the edge
    stack would have made (same name) and the distribution the main stack would have made
    (same comment), so the CLI finds them the way it does on AWS when outputs are missing."""
    waf = client("wafv2", "us-east-1")
    acl = waf.create_web_acl(
        # The edge stack is STACK-REGION-edge: its web ACL carries the main stack's region.
        Name=f"{stack}-{region}-edge-web-acl",
        Scope="CLOUDFRONT",
        DefaultAction={"Allow": {}},
        Rules=[
            {
                "Name": name,
                "Priority": i,
                "Statement": {
                    "ManagedRuleGroupStatement": {"VendorName": "AWS", "Name": group}
                },
                "OverrideAction": {"None": {}},
                "VisibilityConfig": {
                    "SampledRequestsEnabled": True,
                    "CloudWatchMetricsEnabled": True,
                    "MetricName": name,
                },
            }
            for i, (name, group) in enumerate(
                [
                    ("aws-common-rule-set", "AWSManagedRulesCommonRuleSet"),
                    ("aws-known-bad-inputs", "AWSManagedRulesKnownBadInputsRuleSet"),
                ]
            )
        ],
        VisibilityConfig={
            "SampledRequestsEnabled": True,
            "CloudWatchMetricsEnabled": True,
            "MetricName": "acl",
        },
    )["Summary"]["ARN"]
    cf = client("cloudfront", "us-east-1")
    dist = cf.create_distribution(
        DistributionConfig={
            "CallerReference": stack,
            "Comment": f"imgflex {stack} ({region})",
            "Enabled": True,
            "WebACLId": acl,
            "Origins": {
                "Quantity": 1,
                "Items": [
                    {
                        "Id": "variants",
                        "DomainName": "variants.s3.amazonaws.com",
                        "S3OriginConfig": {"OriginAccessIdentity": ""},
                    }
                ],
            },
            "DefaultCacheBehavior": {
                "TargetOriginId": "variants",
                "ViewerProtocolPolicy": "https-only",
                "CachePolicyId": "658327ea-f89d-4fab-a63d-7e88639e58f6",
            },
        }
    )["Distribution"]
    return {"web_acl_arn": acl, "distribution_id": dist["Id"], "domain": dist["DomainName"]}


def stuck_stack(client, stack, region):
    """moto never rolls a stack back: a create whose resource fails stays CREATE_IN_PROGRESS
    for good. That is the state left behind by a failed or interrupted deploy."""
    cfn = client("cloudformation")
    template = """Resources:
  Broken:
    Type: AWS::Lambda::Function
    Properties:
      Runtime: provided.al2023
      Handler: bootstrap
      Role: arn:aws:iam::123456789012:role/none
      Code: {S3Bucket: no-such-bucket, S3Key: none.zip}
"""
    try:
        cfn.create_stack(StackName=stack, TemplateBody=template)
    except Exception:  # noqa: BLE001 - moto answers the failure with an unparsable body
        pass
    return {"status": cfn.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"]}


def add_legacy_bucket(client, stack, region):
    """An older template with one more bucket: the next deploy's change set removes it,
    which must not happen without --allow-replace."""
    cfn = client("cloudformation")
    body = cfn.get_template(StackName=stack)["TemplateBody"]
    if not isinstance(body, str):
        body = json.dumps(body)
    body = body.replace(
        "\nResources:\n", "\nResources:\n  LegacyBucket:\n    Type: AWS::S3::Bucket\n", 1
    )
    params = cfn.describe_stacks(StackName=stack)["Stacks"][0]["Parameters"]
    cfn.update_stack(
        StackName=stack,
        TemplateBody=body,
        # The values, not UsePreviousValue: moto 5.2.5 fails that for defaulted parameters.
        Parameters=[{"ParameterKey": p["ParameterKey"], "ParameterValue": p["ParameterValue"]} for p in params],
        Capabilities=["CAPABILITY_IAM"],
    )
    res = cfn.describe_stack_resources(StackName=stack)["StackResources"]
    return {"legacy": [r.get("PhysicalResourceId") for r in res if r.get("LogicalResourceId") == "LegacyBucket"]}


def fake_handler_zip(path):
    """A zip `deploy --handler-zip` accepts: an executable `bootstrap` whose ELF header says
    aarch64. moto's Lambda never runs code (that needs Docker), so building the real handler
    (minutes) would test nothing more here; cli/tests/e2e/build.rs covers the real zip."""
    import struct
    import zipfile

    header = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8) + struct.pack("<HHI", 2, 0xB7, 1) + bytes(44)
    info = zipfile.ZipInfo("bootstrap")
    info.external_attr = 0o100755 << 16
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(info, header)
    return {"path": path}


def make_buckets(client, *names):
    s3 = client("s3")
    for name in names:
        s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    return {"buckets": list(names)}


def objects(client, bucket):
    """Key -> sha256 of the bytes, content type and size: what upload and purge are judged by."""
    import hashlib

    s3 = client("s3")
    out = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for o in page.get("Contents", []):
            got = s3.get_object(Bucket=bucket, Key=o["Key"])
            out[o["Key"]] = {
                "sha256": hashlib.sha256(got["Body"].read()).hexdigest(),
                "content_type": got.get("ContentType"),
                "size": o["Size"],
            }
    return out


def invalidations(client, distribution_id):
    """Every invalidation moto recorded on the distribution, with its paths."""
    cf = client("cloudfront", "us-east-1")
    items = cf.list_invalidations(DistributionId=distribution_id)["InvalidationList"].get("Items", [])
    out = []
    for item in items:
        inv = cf.get_invalidation(DistributionId=distribution_id, Id=item["Id"])["Invalidation"]
        out.append({"id": inv["Id"], "status": inv["Status"], "paths": inv["InvalidationBatch"]["Paths"].get("Items", [])})
    return out


def big_png(path, width, height):
    """A valid PNG of noise, stored uncompressed: a real image over the 16 MB multipart
    threshold, made in a second instead of kept in the repository."""
    import os
    import struct
    import zlib

    width, height = int(width), int(height)
    row = width * 3
    noise = os.urandom(row * height)
    raw = b"".join(b"\0" + noise[y * row:(y + 1) * row] for y in range(height))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.write(chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)))
        f.write(chunk(b"IDAT", zlib.compress(raw, 0)))
        f.write(chunk(b"IEND", b""))
    return {"path": path, "bytes": os.path.getsize(path)}


def put(client, bucket, key, path):
    with open(path, "rb") as f:
        client("s3").put_object(Bucket=bucket, Key=key, Body=f.read())
    return {"ok": True}


def inspect(client, region):
    """Stacks (both regions), buckets and their objects (key → size and sha of the bytes)."""
    import hashlib

    out = {"stacks": {}, "buckets": {}}
    for r in sorted({region, "us-east-1"}):
        cfn = client("cloudformation", r)
        for s in cfn.list_stacks()["StackSummaries"]:
            if s["StackStatus"] != "DELETE_COMPLETE":
                out["stacks"][f"{s['StackName']}@{r}"] = s["StackStatus"]
    s3 = client("s3")
    for b in s3.list_buckets()["Buckets"]:
        objects = {}
        for o in s3.list_objects_v2(Bucket=b["Name"]).get("Contents", []):
            body = s3.get_object(Bucket=b["Name"], Key=o["Key"])["Body"].read()
            objects[o["Key"]] = hashlib.sha256(body).hexdigest()
        out["buckets"][b["Name"]] = objects
    return out


def set_parameter(client, stack, region, key, value):
    """A value changed behind imgflex's back: UpdateStack with the template and every other
    parameter kept, as the console's "Update stack" does."""
    cfn = client("cloudformation", region)
    current = cfn.describe_stacks(StackName=stack)["Stacks"][0]["Parameters"]
    params = [
        {"ParameterKey": p["ParameterKey"], "ParameterValue": value}
        if p["ParameterKey"] == key
        else {"ParameterKey": p["ParameterKey"], "UsePreviousValue": True}
        for p in current
    ]
    cfn.update_stack(StackName=stack, UsePreviousTemplate=True, Parameters=params,
                     Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"])
    return parameters(client, stack, region)


def parameters(client, stack, region):
    """The stack's parameters as CloudFormation reports them."""
    cfn = client("cloudformation", region)
    found = cfn.describe_stacks(StackName=stack)["Stacks"][0].get("Parameters", [])

    def as_sent(value):
        # moto reports a CommaDelimitedList as a Python list, `['a', 'b']`; AWS as `a,b`.
        if value.startswith("['") and value.endswith("']"):
            return ",".join(value[2:-2].split("', '"))
        return "" if value == "[]" else value

    return {p["ParameterKey"]: as_sent(p.get("ParameterValue", "")) for p in found}


def import_certificate(client, *names):
    """An ISSUED certificate in us-east-1's ACM for `names`: moto's requested certificates stay
    PENDING_VALIDATION for a minute, an imported one is ISSUED at once (DESIGN §7)."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
        .sign(key, hashes.SHA256())
    )
    acm = client("acm", "us-east-1")
    arn = acm.import_certificate(
        Certificate=cert.public_bytes(serialization.Encoding.PEM),
        PrivateKey=key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
    )["CertificateArn"]
    return {"arn": arn}


def function(client, name):
    """What Lambda keeps of a function: memory, timeout, reserved concurrency."""
    lam = client("lambda")
    conf = lam.get_function_configuration(FunctionName=name)
    concurrency = lam.get_function_concurrency(FunctionName=name).get("ReservedConcurrentExecutions")
    return {"memory": conf["MemorySize"], "timeout": conf["Timeout"], "reserved_concurrency": concurrency}


def log_group(client, name):
    groups = client("logs").describe_log_groups(logGroupNamePrefix=name)["logGroups"]
    return {"retention": next((g.get("retentionInDays") for g in groups if g["logGroupName"] == name), None)}


def put_log_events(client, group, path):
    """The handler's lines as Lambda writes them: a JSON file of [seconds ago, message]
    pairs, put into one stream of `group` with timestamps counted back from now."""
    import time

    with open(path) as f:
        events = json.load(f)
    logs = client("logs")
    stream = "2026/12/01/[$LATEST]0123456789abcdef"
    try:
        logs.create_log_group(logGroupName=group)
    except logs.exceptions.ResourceAlreadyExistsException:
        pass
    try:
        logs.create_log_stream(logGroupName=group, logStreamName=stream)
    except logs.exceptions.ResourceAlreadyExistsException:
        pass
    now = int(time.time() * 1000)
    logs.put_log_events(
        logGroupName=group,
        logStreamName=stream,
        logEvents=sorted(
            ({"timestamp": now - int(ago * 1000), "message": message} for ago, message in events),
            key=lambda e: e["timestamp"],
        ),
    )
    return {"ok": True, "events": len(events)}


def function_url(client, function, auth):
    """moto's CloudFormation skips function URLs (DESIGN §7): made (or changed) here."""
    lam = client("lambda")
    try:
        url = lam.create_function_url_config(FunctionName=function, AuthType=auth)
    except lam.exceptions.ResourceConflictException:
        url = lam.update_function_url_config(FunctionName=function, AuthType=auth)
    return {"url": url["FunctionUrl"]}


def lambda_permission(client, function, action, source_arn):
    client("lambda").add_permission(
        FunctionName=function,
        StatementId=action.replace(":", "-"),
        Action=action,
        Principal="cloudfront.amazonaws.com",
        SourceArn=source_arn,
    )
    return {"ok": True}


def cloudfront_read_policy(client, bucket, source_arn):
    """The statement the main template writes (moto skips bucket policies)."""
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AllowCloudFrontReadViaOAC",
                "Effect": "Allow",
                "Principal": {"Service": "cloudfront.amazonaws.com"},
                "Action": "s3:GetObject",
                "Resource": f"arn:aws:s3:::{bucket}/*",
                "Condition": {"StringEquals": {"AWS:SourceArn": source_arn}},
            }
        ],
    }
    client("s3").put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))
    return {"ok": True}


def bucket_policy(client, bucket):
    try:
        return json.loads(client("s3").get_bucket_policy(Bucket=bucket)["Policy"])
    except client("s3").exceptions.ClientError:
        return None


def owned_bucket(client, bucket):
    """A team's own bucket, with a policy statement of its own that imgflex must keep."""
    s3 = client("s3")
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    policy = {
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "TeamBackupRead",
            "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::123456789012:role/backup"},
            "Action": "s3:GetObject",
            "Resource": f"arn:aws:s3:::{bucket}/*",
        }],
    }
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))
    return policy


def bucket_tags(client, bucket):
    try:
        tags = client("s3").get_bucket_tagging(Bucket=bucket)["TagSet"]
    except client("s3").exceptions.ClientError:
        return {}
    return {t["Key"]: t["Value"] for t in tags}


def delete_stack(client, stack, region):
    """A stack deleted behind imgflex's back (or by a `destroy` that died right after): its
    retained buckets stay, as on AWS."""
    cfn = client("cloudformation", region)
    cfn.delete_stack(StackName=stack)
    return {"ok": True}


def start_multipart(client, bucket, key):
    """A multipart upload started and never finished: what a run cut by the network leaves."""
    s3 = client("s3")
    up = s3.create_multipart_upload(Bucket=bucket, Key=key)
    s3.upload_part(Bucket=bucket, Key=key, UploadId=up["UploadId"], PartNumber=1, Body=b"x" * 1024)
    return {"upload_id": up["UploadId"]}


def multipart_uploads(client, bucket):
    uploads = client("s3").list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    return [{"key": u["Key"], "upload_id": u["UploadId"]} for u in uploads]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--region", default="eu-west-1")
    ap.add_argument("command")
    ap.add_argument("args", nargs="*")
    a = ap.parse_args()
    client = clients(a.endpoint, a.region)
    commands = {
        "edge-resources": lambda: edge_resources(client, a.args[0], a.region),
        "stuck-stack": lambda: stuck_stack(client, a.args[0], a.region),
        "add-legacy-bucket": lambda: add_legacy_bucket(client, a.args[0], a.region),
        "fake-handler-zip": lambda: fake_handler_zip(a.args[0]),
        "make-buckets": lambda: make_buckets(client, *a.args),
        "objects": lambda: objects(client, a.args[0]),
        "invalidations": lambda: invalidations(client, a.args[0]),
        "big-png": lambda: big_png(*a.args),
        "put": lambda: put(client, *a.args),
        "inspect": lambda: inspect(client, a.region),
        "set-parameter": lambda: set_parameter(client, a.args[0], a.args[1], a.args[2], a.args[3]),
        "parameters": lambda: parameters(client, a.args[0], a.args[1]),
        "import-certificate": lambda: import_certificate(client, *a.args),
        "function": lambda: function(client, a.args[0]),
        "log-group": lambda: log_group(client, a.args[0]),
        "put-log-events": lambda: put_log_events(client, a.args[0], a.args[1]),
        "function-url": lambda: function_url(client, a.args[0], a.args[1]),
        "lambda-permission": lambda: lambda_permission(client, *a.args),
        "cloudfront-read-policy": lambda: cloudfront_read_policy(client, a.args[0], a.args[1]),
        "bucket-policy": lambda: bucket_policy(client, a.args[0]),
        "owned-bucket": lambda: owned_bucket(client, a.args[0]),
        "bucket-tags": lambda: bucket_tags(client, a.args[0]),
        "delete-stack": lambda: delete_stack(client, a.args[0], a.args[1]),
        "start-multipart": lambda: start_multipart(client, a.args[0], a.args[1]),
        "multipart-uploads": lambda: multipart_uploads(client, a.args[0]),
    }
    json.dump(commands[a.command](), sys.stdout)


if __name__ == "__main__":
    main()
