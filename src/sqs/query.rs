//! The legacy Query protocol, input side: flattened form fields (`Attribute.1.Name`, …)
//! decoded into the same JSON input the JSON protocol carries. Responses are encoded as XML by
//! `xml`.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use serde_json::{Map, Value};

use super::{
    actions,
    errors::{INVALID_ACTION, INVALID_MESSAGE_CONTENTS, SqsError, SqsResult},
    texts,
};

/// Members that are integers in the model (form fields are all text).
const INTEGER_MEMBERS: [&str; 6] = [
    "MaxNumberOfMessages",
    "VisibilityTimeout",
    "WaitTimeSeconds",
    "DelaySeconds",
    "MaxResults",
    "MaxNumberOfMessagesPerSecond",
];

/// How a flattened form field maps onto a JSON member.
enum Shape {
    Scalar,
    List(&'static str),
    /// A map with its entry's key and value field names.
    Map(&'static str, &'static str, &'static str),
}

/// The shape of a form field. Lists and maps go by their flattened entry name (`Attribute.1.…`)
/// or by their member name (`Attributes=`, which botocore sends for an empty one).
fn shape(field: &str, action: &str) -> Shape {
    match field {
        "Attribute" | "Attributes" => Shape::Map("Attributes", "Name", "Value"),
        "Tag" | "tags" | "Tags" if action == "CreateQueue" => Shape::Map("tags", "Key", "Value"),
        "Tag" | "Tags" => Shape::Map("Tags", "Key", "Value"),
        "MessageAttribute" | "MessageAttributes" => {
            Shape::Map("MessageAttributes", "Name", "Value")
        }
        "MessageSystemAttribute" | "MessageSystemAttributes" => {
            Shape::Map("MessageSystemAttributes", "Name", "Value")
        }
        "TagKey" | "TagKeys" => Shape::List("TagKeys"),
        "AttributeName" | "AttributeNames" => Shape::List("AttributeNames"),
        "MessageSystemAttributeName" | "MessageSystemAttributeNames" => {
            Shape::List("MessageSystemAttributeNames")
        }
        "MessageAttributeName" | "MessageAttributeNames" => Shape::List("MessageAttributeNames"),
        "AWSAccountId" | "AWSAccountIds" => Shape::List("AWSAccountIds"),
        "ActionName" | "Actions" => Shape::List("Actions"),
        "SendMessageBatchRequestEntry"
        | "DeleteMessageBatchRequestEntry"
        | "ChangeMessageVisibilityBatchRequestEntry"
        | "Entries" => Shape::List("Entries"),
        _ => Shape::Scalar,
    }
}

/// A form field path split on `.`: a value and/or nested fields.
#[derive(Default, Debug)]
struct Node {
    value: Option<String>,
    children: BTreeMap<String, Node>,
}

/// The only API version of SQS's Query protocol.
const API_VERSION: &str = "2012-11-05";
/// The API version of STS, whose `GetCallerIdentity` shares the endpoint.
const STS_API_VERSION: &str = "2011-06-15";

/// The action and its input from the form body and the URL's query string.
pub fn decode(uri_query: Option<&str>, body: &[u8]) -> SqsResult<(&'static str, Value)> {
    let mut params = form_fields(body)?;
    if let Some(query) = uri_query {
        params.extend(form_fields(query.as_bytes())?);
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
    let action = actions::known(&name)
        .ok_or_else(|| SqsError::new(INVALID_ACTION, texts::invalid_action(&name)))?;
    let (expected, service) = if action == "GetCallerIdentity" {
        (STS_API_VERSION, "AWSSecurityTokenService")
    } else {
        (API_VERSION, "AmazonSQS")
    };
    if let Some((_, version)) = params.iter().find(|(k, _)| k == "Version")
        && version != expected
    {
        return Err(SqsError::new(
            ("NoSuchVersion", "NoSuchVersion", StatusCode::BAD_REQUEST),
            format!("The requested version ({version}) of service {service} does not exist."),
        ));
    }
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
    Ok((action, Value::Object(structure(&root, action)?)))
}

/// `application/x-www-form-urlencoded` pairs, refusing values that are not UTF-8 once
/// percent-decoded: replacing the bytes would change a message body after the client computed
/// its MD5 (AWS refuses such characters too).
fn form_fields(input: &[u8]) -> SqsResult<Vec<(String, String)>> {
    input
        .split(|b| *b == b'&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = match pair.iter().position(|b| *b == b'=') {
                Some(at) => (&pair[..at], &pair[at + 1..]),
                None => (pair, &b""[..]),
            };
            let key = String::from_utf8_lossy(&form_decode(key)).into_owned();
            let value = String::from_utf8(form_decode(value))
                .map_err(|_| SqsError::new(INVALID_MESSAGE_CONTENTS, texts::invalid_utf8(&key)))?;
            Ok((key, value))
        })
        .collect()
}

/// `+` as space, then percent-decoding.
fn form_decode(raw: &[u8]) -> Vec<u8> {
    let spaced: Vec<u8> = raw
        .iter()
        .map(|b| if *b == b'+' { b' ' } else { *b })
        .collect();
    percent_encoding::percent_decode(&spaced).collect()
}

fn structure(node: &Node, action: &str) -> SqsResult<Map<String, Value>> {
    let mut out = Map::new();
    for (field, child) in &node.children {
        match shape(field, action) {
            Shape::Scalar => {
                if let Some(value) = scalar(field, child, action)? {
                    out.insert(field.clone(), value);
                }
            }
            Shape::List(name) => {
                let items = entries(field, child)?
                    .into_iter()
                    .map(|item| member(item, action))
                    .collect::<SqsResult<_>>()?;
                out.insert(name.to_owned(), Value::Array(items));
            }
            Shape::Map(name, key, value) => {
                let mut map = Map::new();
                for entry in entries(field, child)? {
                    let k = entry.children.get(key).and_then(|n| n.value.clone());
                    let v = entry
                        .children
                        .get(value)
                        .map(|n| member(n, action))
                        .transpose()?;
                    map.insert(k.unwrap_or_default(), v.unwrap_or(Value::Null));
                }
                out.insert(name.to_owned(), Value::Object(map));
            }
        }
    }
    Ok(out)
}

fn scalar(field: &str, node: &Node, action: &str) -> SqsResult<Option<Value>> {
    if !node.children.is_empty() {
        return Ok(Some(Value::Object(structure(node, action)?)));
    }
    let Some(text) = node.value.clone() else {
        return Ok(None);
    };
    Ok(Some(match text.parse::<i64>() {
        Ok(n) if INTEGER_MEMBERS.contains(&field) => Value::from(n),
        _ => Value::String(text),
    }))
}

/// A list element or map value: text, or a structure of its own.
fn member(node: &Node, action: &str) -> SqsResult<Value> {
    match (&node.value, node.children.is_empty()) {
        (Some(text), true) => Ok(Value::String(text.clone())),
        _ => Ok(Value::Object(structure(node, action)?)),
    }
}

/// The `.1`, `.2`, … entries of a flattened list in index order; an unnumbered value counts
/// as a single entry, unless it is empty (`Name=` is an empty list). Numbers start at 1 and leave no gaps (as SQS requires): an entry 0 or a
/// skipped number is a client mistake, not something to guess around.
fn entries<'a>(field: &str, node: &'a Node) -> SqsResult<Vec<&'a Node>> {
    let mut numbered = Vec::with_capacity(node.children.len());
    for (index, child) in &node.children {
        let number = index.parse::<usize>().ok().filter(|n| *n >= 1);
        let Some(number) = number else {
            return Err(SqsError::invalid(format!(
                "{field}.{index} is not a valid list member: members are numbered from 1."
            )));
        };
        numbered.push((number, child));
    }
    numbered.sort_by_key(|(number, _)| *number);
    if let Some((_, (number, _))) = numbered.iter().enumerate().find(|(i, (n, _))| *n != i + 1) {
        return Err(SqsError::invalid(format!(
            "{field}.{number} is out of sequence: members are numbered from 1 without gaps."
        )));
    }
    let bare = node.value.as_ref().filter(|v| !v.is_empty()).map(|_| node);
    Ok(bare
        .into_iter()
        .chain(numbered.into_iter().map(|(_, n)| n))
        .collect())
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
    fn empty_values_are_empty_lists_and_maps() {
        let (_, input) = decode(
            None,
            b"Action=ReceiveMessage&QueueUrl=u&MessageAttributeNames=&AttributeName=\
              &MessageSystemAttributeNames.1=All",
        )
        .unwrap();
        assert_eq!(
            input,
            json!({"QueueUrl": "u", "MessageAttributeNames": [], "AttributeNames": [],
                "MessageSystemAttributeNames": ["All"]})
        );
        let (_, input) = decode(None, b"Action=SendMessageBatch&QueueUrl=u&Entries=").unwrap();
        assert_eq!(input, json!({"QueueUrl": "u", "Entries": []}));
        let (_, input) = decode(None, b"Action=TagQueue&QueueUrl=u&Tags=").unwrap();
        assert_eq!(input, json!({"QueueUrl": "u", "Tags": {}}));
    }

    #[test]
    fn values_must_be_utf8() {
        let (_, input) = decode(None, b"Action=SendMessage&MessageBody=%C3%A9+x%2B").unwrap();
        assert_eq!(input, json!({"MessageBody": "é x+"}));
        let error = decode(None, b"Action=SendMessage&MessageBody=%ff%fe").unwrap_err();
        assert_eq!(error.code, "InvalidMessageContents");
    }

    #[test]
    fn unknown_actions_are_invalid() {
        assert_eq!(
            decode(None, b"Action=Nope").unwrap_err().code,
            "InvalidAction"
        );
        assert_eq!(decode(None, b"").unwrap_err().code, "InvalidAction");
    }

    #[test]
    fn list_members_start_at_1_without_gaps() {
        let batch = |numbers: &[u32]| {
            let mut body = "Action=DeleteMessageBatch&QueueUrl=q".to_owned();
            for n in numbers {
                body += &format!(
                    "&DeleteMessageBatchRequestEntry.{n}.Id=e{n}\
                     &DeleteMessageBatchRequestEntry.{n}.ReceiptHandle=h"
                );
            }
            decode(None, body.as_bytes())
        };
        assert_eq!(
            batch(&[1, 2, 3]).unwrap().1["Entries"]
                .as_array()
                .unwrap()
                .len(),
            3
        );
        for bad in [&[0, 1][..], &[1, 3], &[2]] {
            let error = batch(bad).unwrap_err();
            assert_eq!(error.code, "InvalidParameterValue", "{bad:?}");
            assert!(
                error.message.contains("DeleteMessageBatchRequestEntry."),
                "{error:?}"
            );
        }
        let error = decode(None, b"Action=GetQueueAttributes&AttributeName.x=All").unwrap_err();
        assert_eq!(error.code, "InvalidParameterValue");
    }

    #[test]
    fn only_the_2012_11_05_version_is_served() {
        assert!(decode(None, b"Action=ListQueues&Version=2012-11-05").is_ok());
        assert!(decode(None, b"Action=ListQueues").is_ok());
        let error = decode(None, b"Action=ListQueues&Version=2008-01-01").unwrap_err();
        assert_eq!(error.code, "NoSuchVersion");
    }
}
