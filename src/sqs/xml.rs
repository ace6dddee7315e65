//! The legacy Query protocol, output side: JSON outputs encoded as SQS's XML responses and
//! errors (flattened lists and maps, the legacy error codes).

use std::fmt::Write as _;

use axum::{
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::{Map, Value};

use super::{errors::SqsError, texts};

const NAMESPACE: &str = "http://queue.amazonaws.com/doc/2012-11-05/";
const STS_NAMESPACE: &str = "https://sts.amazonaws.com/doc/2011-06-15/";
/// Actions without output: their response has no `<…Result>` element.
const NO_OUTPUT: [&str; 9] = [
    "DeleteQueue",
    "SetQueueAttributes",
    "PurgeQueue",
    "DeleteMessage",
    "ChangeMessageVisibility",
    "TagQueue",
    "UntagQueue",
    "AddPermission",
    "RemovePermission",
];

/// `<ActionResponse><ActionResult>…</ActionResult><ResponseMetadata>…` for an action's output.
pub fn success(action: &str, output: &Value, request_id: &str) -> Response {
    let namespace = match action {
        crate::sqs::actions::sts::GET_CALLER_IDENTITY => STS_NAMESPACE,
        _ => NAMESPACE,
    };
    let mut xml = format!(r#"<?xml version="1.0"?><{action}Response xmlns="{namespace}">"#);
    match output {
        _ if NO_OUTPUT.contains(&action) => {}
        Value::Object(members) if !members.is_empty() => {
            let _ = write!(xml, "<{action}Result>");
            write_members(&mut xml, action, members);
            let _ = write!(xml, "</{action}Result>");
        }
        // An empty result is an empty element, as SQS writes it (`<ReceiveMessageResult/>`).
        _ => {
            let _ = write!(xml, "<{action}Result/>");
        }
    }
    let _ = write!(
        xml,
        "<ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata></{action}Response>"
    );
    xml_response(StatusCode::OK, xml)
}

/// `<ErrorResponse><Error><Type/><Code/><Message/>…` with the legacy code.
pub fn error(error: &SqsError, request_id: &str) -> Response {
    let message = match error.message.as_str() {
        texts::NO_SUCH_QUEUE => texts::NO_SUCH_QUEUE_QUERY,
        other => other,
    };
    let xml = format!(
        r#"<?xml version="1.0"?><ErrorResponse xmlns="{NAMESPACE}"><Error><Type>{}</Type><Code>{}</Code><Message>{}</Message><Detail/></Error><RequestId>{request_id}</RequestId></ErrorResponse>"#,
        error.fault(),
        escape(error.code),
        escape(message),
    );
    xml_response(error.status, xml)
}

fn write_members(xml: &mut String, action: &str, members: &Map<String, Value>) {
    for (name, value) in members {
        match value {
            Value::Array(items) => {
                let element = list_member(name, action);
                for item in items {
                    let _ = write!(xml, "<{element}>");
                    write_value(xml, action, item);
                    let _ = write!(xml, "</{element}>");
                }
            }
            Value::Object(map) => match map_entry(name) {
                Some((entry, key, val)) => {
                    for (k, v) in map {
                        let _ = write!(xml, "<{entry}><{key}>{}</{key}><{val}>", escape(k));
                        write_value(xml, action, v);
                        let _ = write!(xml, "</{val}></{entry}>");
                    }
                }
                None => {
                    let _ = write!(xml, "<{name}>");
                    write_members(xml, action, map);
                    let _ = write!(xml, "</{name}>");
                }
            },
            other => {
                let _ = write!(xml, "<{name}>");
                write_value(xml, action, other);
                let _ = write!(xml, "</{name}>");
            }
        }
    }
}

fn write_value(xml: &mut String, action: &str, value: &Value) {
    match value {
        Value::Object(members) => write_members(xml, action, members),
        Value::String(text) => xml.push_str(&escape(text)),
        Value::Null => {}
        other => xml.push_str(&other.to_string()),
    }
}

/// The element name of each entry of a flattened list member.
fn list_member(name: &str, action: &str) -> String {
    match name {
        "QueueUrls" | "queueUrls" => "QueueUrl".to_owned(),
        "Messages" => "Message".to_owned(),
        "Failed" => "BatchResultErrorEntry".to_owned(),
        "Successful" => format!("{action}ResultEntry"),
        "Results" => format!("{action}ResultEntry"),
        other => other.to_owned(),
    }
}

/// Entry, key and value element names of a flattened map member.
fn map_entry(name: &str) -> Option<(&'static str, &'static str, &'static str)> {
    match name {
        "Attributes" => Some(("Attribute", "Name", "Value")),
        "MessageAttributes" => Some(("MessageAttribute", "Name", "Value")),
        "Tags" => Some(("Tag", "Key", "Value")),
        _ => None,
    }
}

/// XML text escaping; `\r` as a character reference so parsers keep it (bodies are hashed).
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\r' => out.push_str("&#xD;"),
            c => out.push(c),
        }
    }
    out
}

fn xml_response(status: StatusCode, xml: String) -> Response {
    (status, [(header::CONTENT_TYPE, "text/xml")], xml).into_response()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn outputs_become_flattened_xml() {
        let output = json!({"Messages": [{"Body": "a&b\r", "Attributes": {"SentTimestamp": "1"},
            "MessageAttributes": {"k": {"DataType": "String", "StringValue": "v"}}}]});
        let response = success("ReceiveMessage", &output, "rid");
        assert_eq!(response.status(), StatusCode::OK);
        let mut xml = String::new();
        write_members(&mut xml, "ReceiveMessage", output.as_object().unwrap());
        assert_eq!(
            xml,
            "<Message><Attribute><Name>SentTimestamp</Name><Value>1</Value></Attribute>\
             <Body>a&amp;b&#xD;</Body><MessageAttribute><Name>k</Name><Value>\
             <DataType>String</DataType><StringValue>v</StringValue></Value></MessageAttribute>\
             </Message>"
        );
    }
}
