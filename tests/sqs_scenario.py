#!/usr/bin/env python3
"""A produce/consume/dead-letter workflow written for Amazon SQS, run against Spool.

Only the endpoint and credentials differ from a program for AWS. Run it with any boto3
(JSON protocol since late 2023, the Query protocol before and in 1.32.6-1.34.89):

    SPOOL_URL=http://127.0.0.1:9324 python3 tests/sqs_scenario.py

It checks the legacy error codes user code compares (`AWS.SimpleQueueService.NonExistentQueue`)
and, when the `aws` command is on PATH, drives a few steps through aws-cli as well.
"""

import base64
import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
import time
import uuid

import boto3
import botocore
from botocore.config import Config
from botocore.exceptions import ClientError

ENDPOINT = os.environ.get("SPOOL_URL", "http://127.0.0.1:9324")
REGION = "us-east-1"
RUN = uuid.uuid4().hex[:8]

sqs = boto3.client(
    "sqs",
    endpoint_url=ENDPOINT,
    region_name=REGION,
    # The key pair of a Spool API token (run_sqs_scenario.sh creates one).
    aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "any-key"),
    aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "any-secret"),
    config=Config(retries={"max_attempts": 1}),
)
PROTOCOL = sqs.meta.service_model.protocol


def step(name):
    print(f"  - {name}", flush=True)


def expect_error(code, call, *args, **kwargs):
    """Runs `call` and checks it fails with `Error.Code == code`."""
    try:
        call(*args, **kwargs)
    except ClientError as e:
        got = e.response["Error"]["Code"]
        assert got == code, f"expected {code}, got {got}: {e.response['Error']}"
        return e
    raise AssertionError(f"expected {code}, but the call succeeded")


def md5_of_attributes(attributes):
    """SQS's MD5OfMessageAttributes, computed independently of the server."""
    digest = hashlib.md5()
    for name in sorted(attributes):
        value = attributes[name]
        encoded = name.encode()
        digest.update(struct.pack(">I", len(encoded)) + encoded)
        data_type = value["DataType"].encode()
        digest.update(struct.pack(">I", len(data_type)) + data_type)
        if "StringValue" in value:
            text = value["StringValue"].encode()
            digest.update(b"\x01" + struct.pack(">I", len(text)) + text)
        else:
            raw = value["BinaryValue"]
            digest.update(b"\x02" + struct.pack(">I", len(raw)) + raw)
    return digest.hexdigest()


def queue_arn(url):
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    return attrs["Attributes"]["QueueArn"]


def receive(url, **kwargs):
    return sqs.receive_message(QueueUrl=url, **kwargs).get("Messages", [])


def release(url, message):
    sqs.change_message_visibility(
        QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
    )


def main():
    print(f"boto3 {boto3.__version__} / botocore {botocore.__version__}: {PROTOCOL} protocol")

    step("create a queue with a dead-letter queue")
    dlq = sqs.create_queue(QueueName=f"scenario-dlq-{RUN}")["QueueUrl"]
    redrive = json.dumps({"deadLetterTargetArn": queue_arn(dlq), "maxReceiveCount": "2"})
    orders = sqs.create_queue(
        QueueName=f"scenario-orders-{RUN}",
        Attributes={"RedrivePolicy": redrive, "VisibilityTimeout": "30"},
        tags={"team": "scenario"},
    )["QueueUrl"]
    assert sqs.get_queue_url(QueueName=f"scenario-orders-{RUN}")["QueueUrl"] == orders
    attrs = sqs.get_queue_attributes(QueueUrl=orders, AttributeNames=["All"])["Attributes"]
    assert json.loads(attrs["RedrivePolicy"])["maxReceiveCount"] == 2, attrs
    assert attrs["QueueArn"].endswith(f":scenario-orders-{RUN}"), attrs

    step("send a batch with attributes")
    attributes = {
        "kind": {"DataType": "String", "StringValue": "order"},
        "amount": {"DataType": "Number.float", "StringValue": "12.50"},
        "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01binary"},
    }
    entries = [
        {"Id": f"m{i}", "MessageBody": f"order {i}\r\nline two", "MessageAttributes": attributes}
        for i in range(3)
    ]
    sent = sqs.send_message_batch(QueueUrl=orders, Entries=entries)
    assert len(sent["Successful"]) == 3 and not sent.get("Failed"), sent
    for entry in sent["Successful"]:
        assert entry["MD5OfMessageAttributes"] == md5_of_attributes(attributes), entry
        body = entries[int(entry["Id"][1:])]["MessageBody"]
        assert entry["MD5OfMessageBody"] == hashlib.md5(body.encode()).hexdigest()

    step("receive with a long poll")
    got = []
    deadline = time.time() + 10
    while len(got) < 3 and time.time() < deadline:
        got += receive(
            orders,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=2,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
    assert len(got) == 3, got
    for m in got:
        assert m["Body"].startswith("order ") and "\r\n" in m["Body"], repr(m["Body"])
        assert m["MD5OfBody"] == hashlib.md5(m["Body"].encode()).hexdigest()
        assert m["MD5OfMessageAttributes"] == md5_of_attributes(attributes)
        assert m["MessageAttributes"]["blob"]["BinaryValue"] == b"\x00\x01binary"
        assert m["Attributes"]["ApproximateReceiveCount"] == "1"

    step("change visibility, then delete")
    keep, poison = got[0], got[1]
    release(orders, keep)
    again = receive(orders, WaitTimeSeconds=2, AttributeNames=["ApproximateReceiveCount"])
    assert again and again[0]["Attributes"]["ApproximateReceiveCount"] == "2", again
    sqs.delete_message(QueueUrl=orders, ReceiptHandle=again[0]["ReceiptHandle"])
    sqs.delete_message(QueueUrl=orders, ReceiptHandle=got[2]["ReceiptHandle"])
    expect_error(
        "ReceiptHandleIsInvalid", sqs.delete_message, QueueUrl=orders, ReceiptHandle="garbage"
    )

    step("exceed the max receives: the message moves to the dead-letter queue")
    release(orders, poison)
    second = receive(orders, WaitTimeSeconds=2)
    assert len(second) == 1, second
    release(orders, second[0])
    assert receive(orders, WaitTimeSeconds=1) == []
    dead = receive(dlq, WaitTimeSeconds=2, AttributeNames=["All"], VisibilityTimeout=0)
    assert len(dead) == 1 and dead[0]["MessageId"] == poison["MessageId"], dead
    assert dead[0]["Attributes"]["DeadLetterQueueSourceArn"] == queue_arn(orders), dead
    sources = sqs.list_dead_letter_source_queues(QueueUrl=dlq)["queueUrls"]
    assert sources == [orders], sources

    step("redrive back with a message move task")
    handle = sqs.start_message_move_task(SourceArn=queue_arn(dlq))["TaskHandle"]
    assert handle
    deadline = time.time() + 30
    while True:
        task = sqs.list_message_move_tasks(SourceArn=queue_arn(dlq))["Results"][0]
        if task["Status"] == "COMPLETED":
            break
        assert time.time() < deadline, task
        time.sleep(0.5)
    assert task["ApproximateNumberOfMessagesMoved"] == 1, task
    back = receive(orders, WaitTimeSeconds=2)
    assert back and back[0]["MessageId"] == poison["MessageId"], back
    sqs.delete_message(QueueUrl=orders, ReceiptHandle=back[0]["ReceiptHandle"])

    step("list queues with pagination")
    for i in range(3):
        sqs.create_queue(QueueName=f"scenario-page-{RUN}-{i}")
    pages = sqs.get_paginator("list_queues").paginate(
        QueueNamePrefix=f"scenario-page-{RUN}", PaginationConfig={"PageSize": 2}
    )
    urls = [url for page in pages for url in page.get("QueueUrls", [])]
    assert len(urls) == 3, urls
    first = sqs.list_queues(QueueNamePrefix=f"scenario-page-{RUN}", MaxResults=2)
    assert len(first["QueueUrls"]) == 2 and first["NextToken"], first

    step("tags")
    sqs.tag_queue(QueueUrl=orders, Tags={"env": "test"})
    assert sqs.list_queue_tags(QueueUrl=orders)["Tags"] == {"team": "scenario", "env": "test"}
    sqs.untag_queue(QueueUrl=orders, TagKeys=["team", "env"])
    assert "Tags" not in sqs.list_queue_tags(QueueUrl=orders)

    step("purge (once a minute)")
    sqs.send_message(QueueUrl=orders, MessageBody="to purge")
    sqs.purge_queue(QueueUrl=orders)
    expect_error("AWS.SimpleQueueService.PurgeQueueInProgress", sqs.purge_queue, QueueUrl=orders)
    assert receive(orders) == []

    fifo_queues = fifo()

    step("delete the queues; a deleted queue is NonExistentQueue")
    for url in [orders, dlq] + urls + fifo_queues:
        sqs.delete_queue(QueueUrl=url)
    error = expect_error(
        "AWS.SimpleQueueService.NonExistentQueue",
        sqs.get_queue_url,
        QueueName=f"scenario-orders-{RUN}",
    )
    assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    try:
        sqs.send_message(QueueUrl=orders, MessageBody="x")
        raise AssertionError("sent to a deleted queue")
    except sqs.exceptions.QueueDoesNotExist:
        pass

    aws_cli()
    print(f"scenario passed ({PROTOCOL} protocol)")


def fifo():
    """The FIFO part: order per group, deduplication, attempt retries, a FIFO dead-letter queue."""
    step("FIFO: create a FIFO queue with a FIFO dead-letter queue")
    expect_error(
        "InvalidParameterValue",
        sqs.create_queue,
        QueueName=f"scenario-nofifo-{RUN}.fifo",
    )
    dlq = sqs.create_queue(
        QueueName=f"scenario-dlq-{RUN}.fifo", Attributes={"FifoQueue": "true"}
    )["QueueUrl"]
    redrive = json.dumps({"deadLetterTargetArn": queue_arn(dlq), "maxReceiveCount": "1"})
    jobs = sqs.create_queue(
        QueueName=f"scenario-jobs-{RUN}.fifo",
        Attributes={
            "FifoQueue": "true",
            "ContentBasedDeduplication": "true",
            "RedrivePolicy": redrive,
        },
    )["QueueUrl"]
    attrs = sqs.get_queue_attributes(QueueUrl=jobs, AttributeNames=["All"])["Attributes"]
    assert attrs["FifoQueue"] == "true" and attrs["DeduplicationScope"] == "queue", attrs

    step("FIFO: send in groups; a content duplicate is accepted, not enqueued")
    expect_error("MissingParameter", sqs.send_message, QueueUrl=jobs, MessageBody="no group")
    entries = [
        {"Id": f"e{i}", "MessageBody": f"{group}-{i}", "MessageGroupId": group}
        for i, group in enumerate(["a", "b", "a", "a", "b"])
    ]
    entries.append({"Id": "bad", "MessageBody": "x", "MessageGroupId": "a", "DelaySeconds": 5})
    sent = sqs.send_message_batch(QueueUrl=jobs, Entries=entries)
    assert len(sent["Successful"]) == 5, sent
    assert [f["Id"] for f in sent["Failed"]] == ["bad"], sent
    first = sent["Successful"][0]
    again = sqs.send_message(QueueUrl=jobs, MessageBody="a-0", MessageGroupId="a")
    assert again["MessageId"] == first["MessageId"], (again, first)
    assert again["SequenceNumber"] == first["SequenceNumber"], (again, first)

    step("FIFO: receive in order; a retried attempt gets the same handles")
    kwargs = dict(
        MaxNumberOfMessages=10,
        AttributeNames=["All"],
        ReceiveRequestAttemptId=f"attempt-{RUN}",
    )
    got = receive(jobs, **kwargs)
    retry = receive(jobs, **kwargs)
    assert [m["ReceiptHandle"] for m in got] == [m["ReceiptHandle"] for m in retry]
    by_group = {}
    for m in got:
        by_group.setdefault(m["Attributes"]["MessageGroupId"], []).append(m["Body"])
        assert int(m["Attributes"]["SequenceNumber"]) > 0, m
    assert by_group == {"a": ["a-0", "a-2", "a-3"], "b": ["b-1", "b-4"]}, by_group
    assert receive(jobs) == [], "groups in flight must not deliver"

    step("FIFO: over the receive limit, messages move to the FIFO dead-letter queue in order")
    for m in got:
        release(jobs, m)
    assert receive(jobs, MaxNumberOfMessages=10) == []
    dead = receive(dlq, MaxNumberOfMessages=10, AttributeNames=["All"])
    groups = {}
    for m in dead:
        groups.setdefault(m["Attributes"]["MessageGroupId"], []).append(m["Body"])
    assert groups == {"a": ["a-0", "a-2", "a-3"], "b": ["b-1", "b-4"]}, groups
    for m in dead:
        sqs.delete_message(QueueUrl=dlq, ReceiptHandle=m["ReceiptHandle"])
    return [jobs, dlq]


def aws_cli():
    """A few steps through aws-cli (`$AWS_CLI`, or `aws` on PATH), when it is installed."""
    cli = os.environ.get("AWS_CLI") or shutil.which("aws")
    if not cli:
        print("  (aws-cli not found; skipped)")
        return
    step("aws-cli: create, send, receive, delete")
    env = dict(
        os.environ,
        AWS_ACCESS_KEY_ID=os.environ.get("AWS_ACCESS_KEY_ID", "any-key"),
        AWS_SECRET_ACCESS_KEY=os.environ.get("AWS_SECRET_ACCESS_KEY", "any-secret"),
        AWS_DEFAULT_REGION=REGION,
    )

    def aws(*args, check=True):
        cmd = [cli, "--endpoint-url", ENDPOINT, "--output", "json", "sqs", *args]
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        if check and done.returncode != 0:
            raise AssertionError(f"{' '.join(cmd)} failed: {done.stderr}")
        return done

    version = subprocess.run([cli, "--version"], capture_output=True, text=True, check=False)
    print("   ", (version.stdout or version.stderr).strip())
    url = json.loads(aws("create-queue", "--queue-name", f"scenario-cli-{RUN}").stdout)["QueueUrl"]
    aws("send-message", "--queue-url", url, "--message-body", "from the cli")
    received = json.loads(aws("receive-message", "--queue-url", url, "--wait-time-seconds", "2").stdout)
    assert received["Messages"][0]["Body"] == "from the cli", received
    handle = received["Messages"][0]["ReceiptHandle"]
    aws("delete-message", "--queue-url", url, "--receipt-handle", handle)
    aws("delete-queue", "--queue-url", url)
    missing = aws("get-queue-url", "--queue-name", f"scenario-cli-{RUN}", check=False)
    assert missing.returncode != 0 and "NonExistentQueue" in missing.stderr, missing.stderr


if __name__ == "__main__":
    try:
        if "--cli-only" in sys.argv:
            aws_cli()
            print("scenario passed (aws-cli only)")
        else:
            main()
    except AssertionError as e:
        print(f"scenario FAILED: {e}", file=sys.stderr)
        raise
