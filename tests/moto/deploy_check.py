#!/usr/bin/env python3
"""Deploy a rendered main.yaml to a moto server and report, as JSON on stdout, the stack's
status, its resources and outputs, and which of the resources really exist in moto's S3,
IAM, Lambda and CloudWatch Logs. The Rust test (cli/tests/e2e/templates.rs) asserts on it.

    python3 deploy_check.py TEMPLATE --endpoint http://127.0.0.1:PORT

A plain CreateStack, not a change set: moto's change-set stacks have no Outputs (DESIGN §7).
"""

import argparse
import io
import json
import sys
import time
import zipfile

import boto3


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("template")
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--stack", default="imgflex-test")
    args = ap.parse_args()

    def client(service):
        return boto3.client(
            service,
            endpoint_url=args.endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    s3, cfn = client("s3"), client("cloudformation")
    s3.create_bucket(Bucket="imgflex-artifacts-test")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("bootstrap", b"#!/bin/sh\n")
    s3.put_object(Bucket="imgflex-artifacts-test", Key="handler/test.zip", Body=buf.getvalue())

    with open(args.template) as f:
        body = f.read()
    cfn.create_stack(
        StackName=args.stack,
        TemplateBody=body,
        Capabilities=["CAPABILITY_IAM"],
        Parameters=[
            {"ParameterKey": "ArtifactsBucket", "ParameterValue": "imgflex-artifacts-test"},
            {"ParameterKey": "HandlerKey", "ParameterValue": "handler/test.zip"},
        ],
    )
    for _ in range(120):
        stack = cfn.describe_stacks(StackName=args.stack)["Stacks"][0]
        if not stack["StackStatus"].endswith("IN_PROGRESS"):
            break
        time.sleep(0.5)
    resources = cfn.describe_stack_resources(StackName=args.stack)["StackResources"]
    # moto lists the resource types it skipped without a logical id; they are not there.
    physical = {r["LogicalResourceId"]: r.get("PhysicalResourceId") for r in resources if "LogicalResourceId" in r}

    exists = {}
    buckets = {b["Name"] for b in s3.list_buckets()["Buckets"]}
    for logical in ("OriginalsBucket", "VariantsBucket", "LogsBucket"):
        exists[logical] = physical.get(logical) in buckets
    role_name = (physical.get("HandlerRole") or "").split("/")[-1]
    exists["HandlerRole"] = bool(role_name) and any(
        r["RoleName"] == role_name for r in client("iam").list_roles()["Roles"]
    )
    fn = physical.get("ResizeFunction")
    try:
        conf = client("lambda").get_function(FunctionName=fn)["Configuration"] if fn else None
    except Exception:  # noqa: BLE001 - reported as "does not exist"
        conf = None
    exists["ResizeFunction"] = conf is not None
    groups = client("logs").describe_log_groups()["logGroups"]
    exists["HandlerLogGroup"] = any(g["logGroupName"] == physical.get("HandlerLogGroup") for g in groups)

    json.dump(
        {
            "status": stack["StackStatus"],
            "reason": stack.get("StackStatusReason"),
            "resources": sorted(physical),
            "outputs": {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])},
            "exists": exists,
            "function": {k: conf.get(k) for k in ("Runtime", "Handler", "MemorySize", "Timeout")} if conf else None,
            "environment": sorted((conf or {}).get("Environment", {}).get("Variables", {})),
        },
        sys.stdout,
        indent=1,
    )


if __name__ == "__main__":
    main()
