"""S3 applies a relaxed public-access block with a delay: for a while it refuses the public-read policy with
AccessDenied. moto applies it at once, so the delay is injected (before-call AccessDenied on PutBucketPolicy)."""

from __future__ import annotations

from selfheal.model import Outcome


def test_the_website_policy_is_retried_while_a_relaxed_access_block_propagates(world, faults):
    # GIVEN an empty account, and S3 refusing the frontend's policy twice after its access block was relaxed
    refused = faults.add("s3", "PutBucketPolicy", "galerly-frontend-app", code="AccessDenied", status=403, times=2)

    report = world.run(clients=faults.clients())

    # THEN the policy went in on the third try and the bucket was created fully configured
    assert refused.hits == 2
    assert world.result(report, "galerly-frontend-app").outcome is Outcome.CREATED
    assert report.exit_code == 0, report.failure_reason()
    world.assert_healthy(report)
    world.assert_no_deletes(faults.recorder)


def test_access_denied_on_a_policy_is_not_retried_when_nothing_was_relaxed(world, faults):
    # GIVEN a healed estate whose photos policy lost its statement, and a role that may not write policies
    world.converge()
    world.s3.delete_bucket_policy(Bucket="galerly-images-storage")
    denied = faults.add("s3", "PutBucketPolicy", "galerly-images-storage", code="AccessDenied", status=403)

    report = world.run(clients=faults.clients())

    # THEN one attempt, an error naming the call and the fix, the rest untouched
    assert denied.hits == 1
    photos = world.result(report, "galerly-images-storage")
    assert photos.outcome is Outcome.ERROR and "put_bucket_policy" in photos.reason and "IAM role" in photos.reason
    assert {r.outcome for r in report.results if r.name != "galerly-images-storage"} == {Outcome.OK}
