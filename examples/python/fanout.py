#!/usr/bin/env python3
"""Fan-out with unmodified boto3 against Spool's SQS door.

A producer publishes "post created" events to a `posts` queue. A pool of workers receives them
with long polling and fans each one out as batches of per-follower messages to a `timeline`
queue, which a second pool delivers and deletes. A worker that fails simply does not delete: the
post returns after the visibility timeout. A post that fails MAX_TRIES times moves to the
dead-letter queue; once the bug is "fixed", a redrive moves it back and it goes through.

    export AWS_ACCESS_KEY_ID=SPL... AWS_SECRET_ACCESS_KEY=...   # a Spool token's key pair
    SPOOL_URL=http://127.0.0.1:9324 python3 fanout.py

Only the endpoint and credentials differ from a program for Amazon SQS. It prints counts per stage
and exits non-zero if a message was lost or processed twice outside the visibility rules.
"""

import json
import os
import sys
import threading
import time
import uuid

import boto3

ENDPOINT = os.environ.get("SPOOL_URL", "http://127.0.0.1:9324")
RUN = uuid.uuid4().hex[:8]

POSTS = 12
FLAKY = {2, 7}  # fail on their first delivery only, then succeed
BROKEN = {4, 9}  # fail every time until the fix is deployed; they end in the dead-letter queue
CELEBRITY = 5  # has 25 followers: fanned out in 3 batches of at most 10
VISIBILITY = 1  # seconds a received post stays hidden; short so failures return quickly
TIMELINE_VISIBILITY = 30
MAX_TRIES = 3  # deliveries before a post moves to the dead-letter queue
WAIT = 1  # long polling; production code would wait up to 20 s
POST_WORKERS = 3
TIMELINE_WORKERS = 2

# Credentials come from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, as for AWS.
sqs = boto3.client("sqs", endpoint_url=ENDPOINT, region_name="us-east-1")


def followers_of(post_id):
    count = 25 if post_id == CELEBRITY else 2 + post_id % 4
    return [f"user-{post_id}-{n}" for n in range(count)]


class Ledger:
    """Everything the workers did, to check it against the visibility rules at the end.

    A message may come back only after the visibility timeout of its previous delivery has
    passed, and never after it was deleted within that timeout. Times are taken on this side:
    a delivery requested at `t` hides the message until at least `t + visibility`.
    """

    def __init__(self):
        self.lock = threading.Lock()
        self.deadline = {}  # message id -> time before which it must not be delivered again
        self.deleted_in_time = set()  # message ids deleted before their deadline
        self.failed = set()  # message ids whose last delivery failed (so they come back)
        self.violations = []
        self.late = 0  # redeliveries of work that was slower than the timeout: allowed
        self.receives = {}  # post id -> the receive counts its deliveries carried
        self.failures = 0
        self.fanned_out = {}  # post id -> times fanned out
        self.timeline_messages = 0
        self.timeline_batches = 0
        self.delivered = {}  # (post id, follower) -> deliveries

    def received(self, message_id, requested_at, visibility):
        """Records a delivery; False if it breaks the rules (the caller then skips it)."""
        now = time.monotonic()
        with self.lock:
            if message_id in self.deleted_in_time:
                self.violations.append(f"{message_id} delivered again after its delete")
                return False
            if now < self.deadline.get(message_id, 0):
                self.violations.append(f"{message_id} delivered again while still hidden")
                return False
            if message_id in self.deadline and message_id not in self.failed:
                self.late += 1
            self.failed.discard(message_id)
            self.deadline[message_id] = requested_at + visibility
            return True

    def failure(self, message_id):
        with self.lock:
            self.failed.add(message_id)
            self.failures += 1

    def deleted(self, message_id):
        with self.lock:
            if time.monotonic() < self.deadline[message_id]:
                self.deleted_in_time.add(message_id)


ledger = Ledger()
stop = threading.Event()
fixed = threading.Event()  # the bug behind BROKEN posts is fixed (before the redrive)


def post_worker(posts, timeline):
    """Receives one post at a time and fans it out; a failed post is left to come back."""
    while not stop.is_set():
        requested_at = time.monotonic()
        reply = sqs.receive_message(
            QueueUrl=posts,
            MaxNumberOfMessages=1,
            WaitTimeSeconds=WAIT,
            MessageSystemAttributeNames=["ApproximateReceiveCount"],
        )
        for message in reply.get("Messages", []):
            if not ledger.received(message["MessageId"], requested_at, VISIBILITY):
                continue
            post = json.loads(message["Body"])
            tries = int(message["Attributes"]["ApproximateReceiveCount"])
            with ledger.lock:
                ledger.receives.setdefault(post["id"], []).append(tries)
            if handle_post(post, tries, timeline):
                sqs.delete_message(QueueUrl=posts, ReceiptHandle=message["ReceiptHandle"])
                ledger.deleted(message["MessageId"])
            else:
                # No delete: the post is visible again after VISIBILITY seconds.
                ledger.failure(message["MessageId"])


def handle_post(post, tries, timeline):
    """Writes the post into every follower's timeline; False on a (simulated) failure."""
    if post["id"] in FLAKY and tries == 1:
        return False  # e.g. the follower service timed out
    if post["id"] in BROKEN and not fixed.is_set():
        return False  # e.g. a bug in this version of the worker
    followers = followers_of(post["id"])
    for start in range(0, len(followers), 10):  # SendMessageBatch takes up to 10 entries
        entries = [
            {"Id": str(n), "MessageBody": json.dumps({"post": post["id"], "follower": follower})}
            for n, follower in enumerate(followers[start : start + 10])
        ]
        sent = sqs.send_message_batch(QueueUrl=timeline, Entries=entries)
        if sent.get("Failed"):
            return False  # retried as a whole; the timeline side must tolerate duplicates then
        with ledger.lock:
            ledger.timeline_messages += len(sent["Successful"])
            ledger.timeline_batches += 1
    with ledger.lock:
        ledger.fanned_out[post["id"]] = ledger.fanned_out.get(post["id"], 0) + 1
    return True


def timeline_worker(timeline):
    """Delivers timeline entries up to ten at a time and deletes them in one batch."""
    while not stop.is_set():
        requested_at = time.monotonic()
        reply = sqs.receive_message(QueueUrl=timeline, MaxNumberOfMessages=10, WaitTimeSeconds=WAIT)
        done = []
        for message in reply.get("Messages", []):
            if not ledger.received(message["MessageId"], requested_at, TIMELINE_VISIBILITY):
                continue
            entry = json.loads(message["Body"])
            key = (entry["post"], entry["follower"])
            with ledger.lock:
                ledger.delivered[key] = ledger.delivered.get(key, 0) + 1
            done.append(message)
        if done:
            entries = [
                {"Id": str(n), "ReceiptHandle": message["ReceiptHandle"]}
                for n, message in enumerate(done)
            ]
            result = sqs.delete_message_batch(QueueUrl=timeline, Entries=entries)
            for entry in result.get("Successful", []):
                ledger.deleted(done[int(entry["Id"])]["MessageId"])


def wait_until(condition, what, seconds=30):
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline or ledger.violations:
            raise TimeoutError(f"gave up waiting until {what}")
        time.sleep(0.1)


def create_queues():
    """The posts queue dead-letters into posts-dlq after MAX_TRIES deliveries."""
    dlq = sqs.create_queue(QueueName=f"posts-dlq-{RUN}")["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]
    redrive_policy = {
        "deadLetterTargetArn": attributes["QueueArn"],
        "maxReceiveCount": str(MAX_TRIES),
    }
    posts = sqs.create_queue(
        QueueName=f"posts-{RUN}",
        Attributes={
            "VisibilityTimeout": str(VISIBILITY),
            "RedrivePolicy": json.dumps(redrive_policy),
        },
    )["QueueUrl"]
    timeline = sqs.create_queue(
        QueueName=f"timeline-{RUN}", Attributes={"VisibilityTimeout": str(TIMELINE_VISIBILITY)}
    )["QueueUrl"]
    return posts, timeline, dlq, attributes["QueueArn"]


def dead_letters(dlq):
    attributes = sqs.get_queue_attributes(
        QueueUrl=dlq, AttributeNames=["ApproximateNumberOfMessages"]
    )
    return int(attributes["Attributes"]["ApproximateNumberOfMessages"])


def redrive(dlq_arn):
    """Moves the dead letters back to the queue they came from, and waits for the task."""
    sqs.start_message_move_task(SourceArn=dlq_arn)

    def completed():
        task = sqs.list_message_move_tasks(SourceArn=dlq_arn)["Results"][0]
        return task["Status"] == "COMPLETED"

    wait_until(completed, "the redrive completes")


def start(worker, *args):
    """Runs `worker` in a thread; an exception in it counts as a problem."""

    def run():
        try:
            worker(*args)
        except Exception as e:  # noqa: BLE001 (reported, and the run fails)
            with ledger.lock:
                ledger.violations.append(f"a worker failed: {e!r}")

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def main():
    posts, timeline, dlq, dlq_arn = create_queues()
    workers = [start(post_worker, posts, timeline) for _ in range(POST_WORKERS)]
    workers += [start(timeline_worker, timeline) for _ in range(TIMELINE_WORKERS)]
    started = time.monotonic()
    expected = {(p, f) for p in range(POSTS) for f in followers_of(p)}
    problems = []
    try:
        # The producer: one event per new post, as a web app sends them.
        for post_id in range(POSTS):
            event = {"id": post_id, "author": "alice"}
            sqs.send_message(QueueUrl=posts, MessageBody=json.dumps(event))
        print(f"produced: {POSTS} posts")

        healthy = set(range(POSTS)) - BROKEN
        wait_until(lambda: healthy <= ledger.fanned_out.keys(), "the healthy posts are fanned out")
        wait_until(lambda: dead_letters(dlq) == len(BROKEN), "the broken posts are dead-lettered")
        print(f"dead-lettered: {len(BROKEN)} posts, each after {MAX_TRIES} failed tries")

        fixed.set()  # deploy the fix, then redrive
        redrive(dlq_arn)
        print(f"redriven: {len(BROKEN)} posts back to the posts queue")
        wait_until(lambda: expected <= ledger.delivered.keys(), "every timeline entry is delivered")
    except TimeoutError as e:
        problems.append(str(e))
    finally:
        stop.set()
        for worker in workers:
            worker.join()
    seconds = time.monotonic() - started
    problems += check(expected, leftovers=[posts, timeline, dlq])
    for url in (posts, timeline, dlq):
        sqs.delete_queue(QueueUrl=url)
    for problem in problems:
        print(f"FAILED: {problem}", file=sys.stderr)
    if problems:
        return 1
    print(f"ok in {seconds:.1f} s: nothing lost, nothing processed twice")
    return 0


def check(expected, leftovers):
    """Prints the counts per stage; returns what was lost or processed twice."""
    print(
        f"fanned out: {sum(ledger.fanned_out.values())} posts -> {ledger.timeline_messages} "
        f"timeline messages in {ledger.timeline_batches} batches"
    )
    print(f"failed tries: {ledger.failures} (not deleted, so back after the visibility timeout)")
    print(f"delivered: {sum(ledger.delivered.values())} timeline entries, each deleted")
    problems = list(ledger.violations)
    missing = [p for p in range(POSTS) if p not in ledger.fanned_out]
    problems += [f"post {p} was never fanned out" for p in missing]
    problems += [f"{key} was never delivered" for key in sorted(expected - ledger.delivered.keys())]
    for url in leftovers:
        if sqs.receive_message(QueueUrl=url).get("Messages"):
            problems.append(f"a message is left in {url}")
    if ledger.late:
        # A worker was slower than the visibility timeout: at least once allows duplicates then.
        print(f"redelivered after a slow worker's timeout (allowed): {ledger.late}")
        return problems
    problems += [f"post {p} fanned out {n} times" for p, n in ledger.fanned_out.items() if n > 1]
    problems += [f"{key} delivered {n} times" for key, n in ledger.delivered.items() if n > 1]
    # A broken post: MAX_TRIES deliveries, the dead-letter queue, then a fresh start.
    expected_counts = {p: [*range(1, MAX_TRIES + 1), 1] for p in BROKEN}
    expected_counts |= {p: [1, 2] for p in FLAKY}
    for post_id, counts in expected_counts.items():
        if ledger.receives.get(post_id) != counts:
            problems.append(f"post {post_id} had receive counts {ledger.receives.get(post_id)}")
    return problems


if __name__ == "__main__":
    sys.exit(main())
