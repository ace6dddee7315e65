//! The legacy Query protocol: flattened form fields (`Attribute.1.Name`, …) decoded into the
//! same JSON input the JSON protocol carries, and JSON outputs encoded as SQS's XML.

use std::{collections::BTreeMap, fmt::Write as _};

use axum::{
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::{Map, Value};

use super::{
    actions,
    errors::{INVALID_ACTION, NO_SUCH_QUEUE, SqsError, SqsResult},
};

const NAMESPACE: &str = "http://queue.amazonaws.com/doc/2012-11-05/";
/// Members that are integers in the model (form fields are all text).
const INTEGER_MEMBERS: [&str; 6] = [
    "MaxNumberOfMessages",
    "VisibilityTimeout",
    "WaitTimeSeconds",
    "DelaySeconds",
    "MaxResults",
    "MaxNumberOfMessagesPerSecond",
];
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

/// How a flattened form field maps onto a JSON member.
enum Shape {
    Scalar,
    List(&'static str),
    /// A map with its entry's key and value field names.
    Map(&'static str, &'static str, &'static str),
}

fn shape(field: &str, action: &str) -> Shape {
    match field {
        "Attribute" => Shape::Map("Attributes", "Name", "Value"),
        "Tag" if action == "CreateQueue" => Shape::Map("tags", "Key", "Value"),
        "Tag" => Shape::Map("Tags", "Key", "Value"),
        "MessageAttribute" => Shape::Map("MessageAttributes", "Name", "Value"),
        "MessageSystemAttribute" => Shape::Map("MessageSystemAttributes", "Name", "Value"),
        "TagKey" => Shape::List("TagKeys"),
        "AttributeName" => Shape::List("AttributeNames"),
        "MessageSystemAttributeName" => Shape::List("MessageSystemAttributeNames"),
        "MessageAttributeName" => Shape::List("MessageAttributeNames"),
        "AWSAccountId" => Shape::List("AWSAccountIds"),
        "ActionName" => Shape::List("Actions"),
        "SendMessageBatchRequestEntry"
        | "DeleteMessageBatchRequestEntry"
        | "ChangeMessageVisibilityBatchRequestEntry" => Shape::List("Entries"),
        _ => Shape::Scalar,
    }
}

/// A form field path split on `.`: a value and/or nested fields.
#[derive(Default, Debug)]
struct Node {
    value: Option<String>,
    children: BTreeMap<String, Node>,
}

/// The action and its input from the form body and the URL's query string.
pub fn decode(uri_query: Option<&str>, body: &[u8]) -> SqsResult<(&'static str, Value)> {
    let mut params: Vec<(String, String)> = form_urlencoded::parse(body).into_owned().collect();
    if let Some(query) = uri_query {
        params.extend(form_urlencoded::parse(query.as_bytes()).into_owned());
    }
    let named = params
        .iter()
        .find(|(k, _)| k == "Action")
        .map(|(_, v)| v.clone());
    let Some(name) = named else {
        return Err(SqsError::new(
            INVALID_ACTION,
            "The request must contain the parameter Action (or use X-Amz-Target with AWS JSON).",
        ));
    };
    let action = actions::known(&name).ok_or_else(|| {
        SqsError::new(
            INVALID_ACTION,
            format!("The action {name} is not valid for this endpoint."),
        )
    })?;
    let mut root = Node::default();
    for (key, value) in params {
        if key == "Action" || key == "Version" || key.starts_with("X-Amz-") {
            continue;
        }
        let node = key.split('.').fold(&mut root, |node, part| {
            node.children.entry(part.to_owned()).or_default()
        });
        node.value = Some(value);
    }
    Ok((action, Value::Object(structure(&root, action))))
}

fn structure(node: &Node, action: &str) -> Map<String, Value> {
    let mut out = Map::new();
    for (field, child) in &node.children {
        match shape(field, action) {
            Shape::Scalar => {
                if let Some(value) = scalar(field, child, action) {
                    out.insert(field.clone(), value);
                }
            }
            Shape::List(name) => {
                let items = entries(child).map(|item| member(item, action)).collect();
                out.insert(name.to_owned(), Value::Array(items));
            }
            Shape::Map(name, key, value) => {
                let mut map = Map::new();
                for entry in entries(child) {
                    let k = entry.children.get(key).and_then(|n| n.value.clone());
                    let v = entry.children.get(value).map(|n| member(n, action));
                    map.insert(k.unwrap_or_default(), v.unwrap_or(Value::Null));
                }
                out.insert(name.to_owned(), Value::Object(map));
            }
        }
    }
    out
}

fn scalar(field: &str, node: &Node, action: &str) -> Option<Value> {
    if !node.children.is_empty() {
        return Some(Value::Object(structure(node, action)));
    }
    let text = node.value.clone()?;
    match text.parse::<i64>() {
        Ok(n) if INTEGER_MEMBERS.contains(&field) => Some(Value::from(n)),
        _ => Some(Value::String(text)),
    }
}

/// A list element or map value: text, or a structure of its own.
fn member(node: &Node, action: &str) -> Value {
    match (&node.value, node.children.is_empty()) {
        (Some(text), true) => Value::String(text.clone()),
        _ => Value::Object(structure(node, action)),
    }
}

/// The `.1`, `.2`, … entries of a flattened list in index order; an unnumbered value counts
/// as a single entry.
fn entries(node: &Node) -> impl Iterator<Item = &Node> {
    let mut numbered: Vec<(u32, &Node)> = node
        .children
        .iter()
        .filter_map(|(index, child)| Some((index.parse().ok()?, child)))
        .collect();
    numbered.sort_by_key(|(index, _)| *index);
    let bare = node.value.as_ref().map(|_| node);
    bare.into_iter().chain(numbered.into_iter().map(|(_, n)| n))
}

/// `<ActionResponse><ActionResult>…</ActionResult><ResponseMetadata>…` for an action's output.
pub fn success(action: &str, output: &Value, request_id: &str) -> Response {
    let mut xml = format!(r#"<?xml version="1.0"?><{action}Response xmlns="{NAMESPACE}">"#);
    if !NO_OUTPUT.contains(&action) {
        let _ = write!(xml, "<{action}Result>");
        if let Value::Object(members) = output {
            write_members(&mut xml, action, members);
        }
        let _ = write!(xml, "</{action}Result>");
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
        NO_SUCH_QUEUE => "The specified queue does not exist for this wsdl version.",
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
    fn flattened_fields_become_json_members() {
        let body = "Action=SendMessageBatch&QueueUrl=http%3A%2F%2Fh%2F000000000000%2Fq\
            &SendMessageBatchRequestEntry.2.Id=b&SendMessageBatchRequestEntry.2.MessageBody=two\
            &SendMessageBatchRequestEntry.1.Id=a&SendMessageBatchRequestEntry.1.MessageBody=one\
            &SendMessageBatchRequestEntry.1.DelaySeconds=5\
            &SendMessageBatchRequestEntry.1.MessageAttribute.1.Name=k\
            &SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.DataType=String\
            &SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.StringValue=v";
        let (action, input) = decode(None, body.as_bytes()).unwrap();
        assert_eq!(action, "SendMessageBatch");
        assert_eq!(
            input,
            json!({"QueueUrl": "http://h/000000000000/q", "Entries": [
                {"Id": "a", "MessageBody": "one", "DelaySeconds": 5, "MessageAttributes":
                    {"k": {"DataType": "String", "StringValue": "v"}}},
                {"Id": "b", "MessageBody": "two"}]})
        );
        let (_, input) = decode(
            Some("Action=CreateQueue&QueueName=q&Attribute.1.Name=DelaySeconds&Attribute.1.Value=5&Tag.1.Key=t&Tag.1.Value=v"),
            b"",
        )
        .unwrap();
        assert_eq!(
            input,
            json!({"QueueName": "q", "Attributes": {"DelaySeconds": "5"}, "tags": {"t": "v"}})
        );
    }

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

    #[test]
    fn unknown_actions_are_invalid() {
        assert_eq!(
            decode(None, b"Action=Nope").unwrap_err().code,
            "InvalidAction"
        );
        assert_eq!(decode(None, b"").unwrap_err().code, "InvalidAction");
    }
}
