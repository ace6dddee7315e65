//! Dead-letter queues through RedrivePolicy, ListDeadLetterSourceQueues, and message move
//! tasks back to the source.

use aws_sdk_sqs::{
    Client,
    error::ProvideErrorMetadata,
    types::{MessageSystemAttributeName, QueueAttributeName},
};

use crate::{
    client::{Sqs, client, form},
    helpers::TestApp,
};

async fn arn(sqs: &Client, url: &str) -> String {
    sqs.queue_attribute(url, QueueAttributeName::QueueArn).await
}

/// Receives once and makes the message visible again at once.
async fn receive_and_release(sqs: &Client, url: &str) -> usize {
    let received = sqs.receive(url).await;
    for m in &received {
        sqs.change_message_visibility()
            .queue_url(url)
            .receipt_handle(m.receipt_handle().unwrap())
            .visibility_timeout(0)
            .send()
            .await
            .unwrap();
    }
    received.len()
}

#[tokio::test]
async fn failing_messages_move_to_the_dead_letter_queue_and_back() {
    let app = TestApp::spawn().await;
    let sqs = client(&app);
    let dlq = sqs.new_queue("dlq").await;
    let dlq_arn = arn(&sqs, &dlq).await;
    let policy = format!(r#"{{"deadLetterTargetArn":"{dlq_arn}","maxReceiveCount":"1"}}"#);
    let src = sqs
        .create_queue()
        .queue_name("src")
        .attributes(QueueAttributeName::RedrivePolicy, &policy)
        .send()
        .await
        .unwrap();
    let src = src.queue_url().unwrap().to_owned();
    let src_arn = arn(&sqs, &src).await;
    let shown = sqs
        .queue_attribute(&src, QueueAttributeName::RedrivePolicy)
        .await;
    let shown: serde_json::Value = serde_json::from_str(&shown).unwrap();
    assert_eq!(
        shown,
        serde_json::json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 1})
    );

    let sources = sqs
        .list_dead_letter_source_queues()
        .queue_url(&dlq)
        .send()
        .await
        .unwrap();
    assert_eq!(sources.queue_urls(), std::slice::from_ref(&src));

    // Not a dead-letter queue yet: no move task.
    let err = sqs
        .start_message_move_task()
        .source_arn(&src_arn)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InvalidParameterValue"));

    sqs.send_body(&src, "poison").await;
    assert_eq!(receive_and_release(&sqs, &src).await, 1);
    assert_eq!(
        receive_and_release(&sqs, &src).await,
        0,
        "moved on the second receive"
    );
    let dead = sqs
        .receive_message()
        .queue_url(&dlq)
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .visibility_timeout(0)
        .send()
        .await
        .unwrap();
    let m = &dead.messages()[0];
    assert_eq!(m.body(), Some("poison"));
    assert_eq!(
        m.attributes().unwrap()[&MessageSystemAttributeName::DeadLetterQueueSourceArn],
        src_arn
    );

    let started = sqs
        .start_message_move_task()
        .source_arn(&dlq_arn)
        .max_number_of_messages_per_second(10)
        .send()
        .await
        .unwrap();
    let handle = started.task_handle().unwrap().to_owned();
    let err = sqs
        .start_message_move_task()
        .source_arn(&dlq_arn)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InvalidParameterValue"));
    let listed = sqs
        .list_message_move_tasks()
        .source_arn(&dlq_arn)
        .send()
        .await
        .unwrap();
    let task = &listed.results()[0];
    assert_eq!(task.status(), Some("RUNNING"));
    assert_eq!(task.task_handle(), Some(handle.as_str()));
    assert_eq!(task.approximate_number_of_messages_to_move(), Some(1));

    assert_eq!(app.engine.run_mover_once().await.unwrap(), 1);
    app.engine.run_mover_once().await.unwrap();
    let listed = sqs
        .list_message_move_tasks()
        .source_arn(&dlq_arn)
        .send()
        .await
        .unwrap();
    let task = &listed.results()[0];
    assert_eq!(task.status(), Some("COMPLETED"));
    assert_eq!(task.approximate_number_of_messages_moved(), 1);
    assert!(task.task_handle().is_none());
    let back = sqs.receive(&src).await;
    assert_eq!(back[0].body(), Some("poison"));

    let err = sqs
        .cancel_message_move_task()
        .task_handle(&handle)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InvalidParameterValue"));
    let err = sqs
        .cancel_message_move_task()
        .task_handle("garbage")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("ResourceNotFoundException"), "{err:?}");
    assert_eq!(err.message(), Some("Task does not exist."));
    // A well-formed handle of a task that never existed.
    let unknown = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        format!(
            r#"{{"taskId":"{}","sourceArn":"{dlq_arn}"}}"#,
            uuid::Uuid::new_v4()
        ),
    );
    let err = sqs
        .cancel_message_move_task()
        .task_handle(unknown)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("ResourceNotFoundException"), "{err:?}");
    let missing = "arn:aws:sqs:us-east-1:000000000000:nope";
    let err = sqs
        .start_message_move_task()
        .source_arn(missing)
        .send()
        .await
        .unwrap_err();
    assert!(
        err.as_service_error()
            .unwrap()
            .is_resource_not_found_exception(),
        "{err:?}"
    );
}

#[tokio::test]
async fn move_tasks_can_be_cancelled_and_redrive_allow_policies_apply() {
    let app = TestApp::spawn().await;
    let sqs = client(&app);
    let dlq = sqs.new_queue("dlq").await;
    let dlq_arn = arn(&sqs, &dlq).await;
    sqs.set_queue_attributes()
        .queue_url(&dlq)
        .attributes(
            QueueAttributeName::RedriveAllowPolicy,
            r#"{"redrivePermission":"denyAll"}"#,
        )
        .send()
        .await
        .unwrap();
    let policy = format!(r#"{{"deadLetterTargetArn":"{dlq_arn}","maxReceiveCount":3}}"#);
    let err = sqs
        .create_queue()
        .queue_name("src")
        .attributes(QueueAttributeName::RedrivePolicy, &policy)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InvalidParameterValue"), "{err:?}");
    sqs.set_queue_attributes()
        .queue_url(&dlq)
        .attributes(QueueAttributeName::RedriveAllowPolicy, "")
        .send()
        .await
        .unwrap();
    let src = sqs
        .create_queue()
        .queue_name("src")
        .attributes(QueueAttributeName::RedrivePolicy, &policy)
        .send()
        .await
        .unwrap();
    let src = src.queue_url().unwrap().to_owned();
    let other = sqs.new_queue("other").await;
    let other_arn = arn(&sqs, &other).await;
    sqs.send_body(&dlq, "m").await;
    let started = sqs
        .start_message_move_task()
        .source_arn(&dlq_arn)
        .destination_arn(&other_arn)
        .send()
        .await
        .unwrap();
    let cancelled = sqs
        .cancel_message_move_task()
        .task_handle(started.task_handle().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(cancelled.approximate_number_of_messages_moved(), 0);
    let listed = sqs
        .list_message_move_tasks()
        .source_arn(&dlq_arn)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.results()[0].status(), Some("CANCELLED"));
    assert_eq!(
        listed.results()[0].destination_arn(),
        Some(other_arn.as_str())
    );
    sqs.set_queue_attributes()
        .queue_url(&src)
        .attributes(QueueAttributeName::RedrivePolicy, "")
        .send()
        .await
        .unwrap();
    let sources = sqs
        .list_dead_letter_source_queues()
        .queue_url(&dlq)
        .send()
        .await
        .unwrap();
    assert!(sources.queue_urls().is_empty());
}

#[tokio::test]
async fn deleting_a_dead_letter_queue_detaches_it_in_both_protocols() {
    let app = TestApp::spawn().await;
    let sqs = client(&app);
    for (dlq_name, src_name) in [("dlq-json", "src-json"), ("dlq-query", "src-query")] {
        let dlq = sqs.new_queue(dlq_name).await;
        let policy = format!(
            r#"{{"deadLetterTargetArn":"{}","maxReceiveCount":2}}"#,
            arn(&sqs, &dlq).await
        );
        let src = sqs
            .create_queue()
            .queue_name(src_name)
            .attributes(QueueAttributeName::RedrivePolicy, &policy)
            .send()
            .await
            .unwrap();
        let src = src.queue_url().unwrap().to_owned();
        if dlq_name == "dlq-json" {
            sqs.delete_queue().queue_url(&dlq).send().await.unwrap();
        } else {
            let r = form(&app, "/", &format!("Action=DeleteQueue&QueueUrl={dlq}")).await;
            assert_eq!(r.status, 200, "{}", r.body);
        }
        let attrs = sqs.queue_attributes(&src).await;
        assert!(
            !attrs.contains_key(&QueueAttributeName::RedrivePolicy),
            "{attrs:?}"
        );
    }
}

#[tokio::test]
async fn a_move_task_whose_destination_is_deleted_fails() {
    let app = TestApp::spawn().await;
    let sqs = client(&app);
    let dlq = sqs.new_queue("dlq").await;
    let dlq_arn = arn(&sqs, &dlq).await;
    let policy = format!(r#"{{"deadLetterTargetArn":"{dlq_arn}","maxReceiveCount":1}}"#);
    sqs.create_queue()
        .queue_name("src")
        .attributes(QueueAttributeName::RedrivePolicy, &policy)
        .send()
        .await
        .unwrap();
    let other = sqs.new_queue("other").await;
    let other_arn = arn(&sqs, &other).await;
    sqs.send_body(&dlq, "m").await;
    sqs.start_message_move_task()
        .source_arn(&dlq_arn)
        .destination_arn(&other_arn)
        .send()
        .await
        .unwrap();
    sqs.delete_queue().queue_url(&other).send().await.unwrap();
    app.engine.run_mover_once().await.unwrap();
    let listed = sqs
        .list_message_move_tasks()
        .source_arn(&dlq_arn)
        .send()
        .await
        .unwrap();
    let task = &listed.results()[0];
    assert_eq!(task.status(), Some("FAILED"));
    assert_eq!(
        task.failure_reason(),
        Some("AWS.SimpleQueueService.NonExistentQueue")
    );
    assert_eq!(task.destination_arn(), Some(other_arn.as_str()));
    assert!(task.task_handle().is_none());
}
