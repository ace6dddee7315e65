//! Tests of validation (SQS's wording), the MD5 test vectors, sizes and serde.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use md5::{Digest, Md5};

use super::digest::{hash_attribute, to_hex};
use super::size::decoded_len;
use super::*;

fn one(name: &str, value: AttributeValue) -> Attributes {
    Attributes::from([(name.to_owned(), value)])
}

fn string(data_type: &str, value: &str) -> AttributeValue {
    AttributeValue {
        data_type: data_type.to_owned(),
        string_value: Some(value.to_owned()),
        binary_value: None,
    }
}

fn binary(data_type: &str, bytes: &[u8]) -> AttributeValue {
    AttributeValue {
        data_type: data_type.to_owned(),
        string_value: None,
        binary_value: Some(BASE64.encode(bytes)),
    }
}

fn check_one(name: &str, value: AttributeValue) -> Result<(), InvalidMessage> {
    validate_attributes(&one(name, value))
}

fn name_problem(name: &str) -> Option<NameProblem> {
    match check_one(name, string("String", "v")) {
        Ok(()) => None,
        Err(InvalidMessage::InvalidAttributeName(_, problem)) => Some(problem),
        Err(other) => panic!("unexpected error for {name:?}: {other:?}"),
    }
}

fn number(value: &str) -> Result<(), InvalidMessage> {
    check_one("n", string("Number", value))
}

// --- MD5 test vectors (sqs.md §2.7) ---

#[test]
fn md5_of_body_vectors() {
    assert_eq!(md5_of_body("hello"), "5d41402abc4b2a76b9719d911017c592");
    assert_eq!(md5_of_body("message"), "78e731027d8fd50ed642340b7c9a63b3");
}

fn vector_attributes() -> [(&'static str, AttributeValue); 3] {
    [
        ("attribName1", string("String", "attribValue 1")),
        (
            "customNumberTypeAttrib",
            string("Number.float", "4563442423554324324264524243.32543234"),
        ),
        ("binaryAttribute", binary("Binary", b"Hello binary world!")),
    ]
}

#[test]
fn md5_of_attributes_vectors() {
    let expected = [
        "19e27d4e946b072f3f58da80d94fd778",
        "9fe1b90bbd9965bdf77bac517c7d2495",
        "31a92b15d92f8db860eda32aceb656c3",
    ];
    for ((name, value), md5) in vector_attributes().into_iter().zip(expected) {
        let attrs = one(name, value);
        assert_eq!(validate_attributes(&attrs), Ok(()), "{name}");
        assert_eq!(md5_of_attributes(&attrs).as_deref(), Some(md5), "{name}");
    }
    let all: Attributes = vector_attributes()
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value))
        .collect();
    assert_eq!(validate_attributes(&all), Ok(()));
    assert_eq!(
        md5_of_attributes(&all).as_deref(),
        Some("c932db14a896c663f83c260297d594ff")
    );
}

#[test]
fn md5_of_no_attributes_is_none() {
    assert_eq!(md5_of_attributes(&Attributes::new()), None);
}

#[test]
fn md5_of_attributes_sorts_names_as_utf16() {
    // U+FF21 sorts before U+10400 in UTF-8 byte order but after it in UTF-16.
    let (bmp, astral) = ("\u{FF21}", "\u{10400}");
    let attrs: Attributes = [bmp, astral]
        .into_iter()
        .map(|name| (name.to_owned(), string("String", "v")))
        .collect();
    assert_eq!(validate_attributes(&attrs), Ok(()));
    let mut hasher = Md5::new();
    for name in [astral, bmp] {
        hash_attribute(&mut hasher, name, &string("String", "v"));
    }
    assert_eq!(md5_of_attributes(&attrs), Some(to_hex(&hasher.finalize())));
}

// --- Body ---

#[test]
fn valid_bodies_pass() {
    for body in [
        "x",
        "tab\tnl\ncr\r",
        "emoji 🦀",
        "\u{D7FF}\u{E000}\u{FFFD}\u{10FFFF}",
    ] {
        assert_eq!(validate_body(body), Ok(()), "{body:?}");
    }
}

#[test]
fn invalid_bodies_fail() {
    assert_eq!(validate_body(""), Err(InvalidMessage::EmptyBody));
    for (body, code_point) in [
        ("a\0b", 0),
        ("\u{1}", 1),
        ("ok\u{1F}", 0x1F),
        ("\u{FFFE}", 0xFFFE),
    ] {
        assert_eq!(
            validate_body(body),
            Err(InvalidMessage::InvalidBodyCharacter(code_point)),
            "{body:?}"
        );
    }
}

#[test]
fn body_error_messages_match_sqs() {
    assert_eq!(
        validate_body("\u{FFFF}").unwrap_err().to_string(),
        "Invalid binary character '#xFFFF' was found in the message body, the set of allowed \
         characters is #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF]."
    );
    assert_eq!(
        validate_body("").unwrap_err().to_string(),
        "The request must contain the parameter MessageBody."
    );
}

// --- Attribute count and names ---

fn numbered(count: usize) -> Attributes {
    (0..count)
        .map(|i| (format!("attr{i}"), string("String", "v")))
        .collect()
}

#[test]
fn at_most_ten_attributes() {
    assert_eq!(validate_attributes(&numbered(10)), Ok(()));
    let err = validate_attributes(&numbered(11)).unwrap_err();
    assert_eq!(err, InvalidMessage::TooManyAttributes(11));
    assert_eq!(
        err.to_string(),
        "Number of message attributes [11] exceeds the allowed maximum [10]."
    );
}

#[test]
fn invalid_names_fail() {
    use NameProblem::*;
    let long = "a".repeat(257);
    let cases = [
        ("", Empty),
        (long.as_str(), TooLong),
        (".lead", LeadingOrTrailingPeriod),
        ("trail.", LeadingOrTrailingPeriod),
        ("a..b", ConsecutivePeriods),
        ("AWS.x", ReservedPrefix),
        ("aws.x", ReservedPrefix),
        ("amazon.x", ReservedPrefix),
        ("AMAZON.X", ReservedPrefix),
        ("a b", InvalidCharacter),
        ("a!", InvalidCharacter),
        ("a/b", InvalidCharacter),
        ("a:b", InvalidCharacter),
        ("a§b", InvalidCharacter),
        ("tab\t", InvalidCharacter),
    ];
    for (name, problem) in cases {
        assert_eq!(name_problem(name), Some(problem), "{name:?}");
    }
}

#[test]
fn valid_names_pass() {
    let longest = "a".repeat(256);
    for name in [
        "a",
        "my_attr-1.v2",
        "AWSx",
        "aws-x",
        "Amazon_x",
        "attr.1øßä",
        &longest,
    ] {
        assert_eq!(name_problem(name), None, "{name:?}");
    }
}

#[test]
fn name_error_message_names_the_attribute() {
    assert_eq!(
        check_one("AWS.x", string("String", "v"))
            .unwrap_err()
            .to_string(),
        "Message (user) attribute name 'AWS.x' is invalid: names beginning with 'AWS.' or \
         'Amazon.' are reserved."
    );
}

// --- Data types ---

#[test]
fn invalid_data_types_fail() {
    let too_long = format!("String.{}", "x".repeat(250));
    for data_type in [
        "",
        "Strin",
        "string",
        "Text",
        "String.",
        "Number.\u{1}",
        ".String",
        &too_long,
    ] {
        assert_eq!(
            check_one("a", string(data_type, "1")),
            Err(InvalidMessage::InvalidDataType("a".to_owned())),
            "{data_type:?}"
        );
    }
}

#[test]
fn custom_data_types_pass() {
    let longest = format!("String.{}", "x".repeat(249));
    let cases = [
        string("Number.float", "1.5"),
        string("String.json", "{\"a\":1}"),
        string("Number.java.lang.Long", "42"),
        string(&longest, "v"),
        binary("Binary.gz", &[0x1f, 0x8b, 0]),
    ];
    for value in cases {
        assert_eq!(check_one("a", value.clone()), Ok(()), "{value:?}");
    }
}

// --- Values ---

#[test]
fn empty_string_values_fail() {
    let err = check_one("ErrorDetails", string("String", "")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Message (user) attribute 'ErrorDetails' must contain a non-empty value of type 'String'."
    );
    assert_eq!(
        number(""),
        Err(InvalidMessage::EmptyValue("n".to_owned(), "Number"))
    );
    assert_eq!(
        check_one("b", binary("Binary", b"")),
        Err(InvalidMessage::EmptyValue("b".to_owned(), "Binary"))
    );
}

#[test]
fn missing_or_misplaced_values_fail() {
    let bare = |data_type: &str| AttributeValue {
        data_type: data_type.to_owned(),
        string_value: None,
        binary_value: None,
    };
    assert_eq!(
        check_one("a", bare("String")),
        Err(InvalidMessage::MissingValue("a".to_owned(), "String"))
    );
    assert_eq!(
        check_one("a", bare("Binary.gz")),
        Err(InvalidMessage::MissingValue("a".to_owned(), "Binary"))
    );
    let err = check_one("a", string("Binary", "aGk=")).unwrap_err();
    assert_eq!(
        err,
        InvalidMessage::WrongValueField("a".to_owned(), "Binary", "Binary")
    );
    assert_eq!(
        err.to_string(),
        "Message (user) attribute 'a' with type 'Binary' must use field 'Binary'."
    );
    let mut number_as_binary = binary("Number", b"1");
    assert!(matches!(
        check_one("a", number_as_binary.clone()),
        Err(InvalidMessage::WrongValueField(_, _, "String"))
    ));
    number_as_binary.string_value = Some("1".to_owned());
    assert_eq!(
        check_one("a", number_as_binary),
        Err(InvalidMessage::BothValues("a".to_owned()))
    );
}

#[test]
fn string_values_use_body_characters() {
    assert_eq!(
        check_one("a", string("String", "bad\u{1}")),
        Err(InvalidMessage::InvalidValueCharacter("a".to_owned(), 1))
    );
    assert_eq!(check_one("a", string("String", "ok\ttab 🦀")), Ok(()));
}

#[test]
fn binary_values_must_be_padded_standard_base64() {
    for encoded in ["not base64!", "aGk", "aGk=\n", "-_8=", "a"] {
        let value = AttributeValue {
            data_type: "Binary".to_owned(),
            string_value: None,
            binary_value: Some(encoded.to_owned()),
        };
        assert_eq!(
            check_one("b", value),
            Err(InvalidMessage::InvalidBase64("b".to_owned())),
            "{encoded:?}"
        );
    }
}

#[test]
fn valid_numbers_pass() {
    let cases = [
        "0",
        "-0",
        "+1",
        "1.",
        ".5",
        "-12.50",
        "1.5e10",
        "1E-5",
        "-1e+126",
        "1e126",
        "10e125",
        "1000e123",
        "0.0001e130",
        "9.9999999999999999999999999999999999999e125",
        "1e-128",
        "0.0000e-999",
        "0e99999999999999999999999",
        "12345678901234567890123456789012345678",
        "1234567890123456789012345678901234567800000",
        "000123",
        "4563442423554324324264524243.32543234",
    ];
    for value in cases {
        assert_eq!(number(value), Ok(()), "{value:?}");
    }
}

#[test]
fn malformed_numbers_fail() {
    let cases = [
        "abc", "1e", "e5", "--1", "+-1", "1.2.3", " 1", "1 ", "0x10", "NaN", "Infinity", "1_000",
        ".", "-", "1e5e5", "1e+-5", "١",
    ];
    for value in cases {
        assert_eq!(
            number(value),
            Err(InvalidMessage::InvalidNumber("n".to_owned())),
            "{value:?}"
        );
    }
    assert_eq!(
        number("abc").unwrap_err().to_string(),
        "Can't cast the value of message (user) attribute 'n' to a number."
    );
}

#[test]
fn numbers_over_38_digits_fail() {
    for value in [
        "123456789012345678901234567890123456789",
        "1.00000000000000000000000000000000000001",
    ] {
        assert_eq!(
            number(value),
            Err(InvalidMessage::NumberTooPrecise("n".to_owned())),
            "{value:?}"
        );
    }
}

#[test]
fn numbers_out_of_range_fail() {
    for value in [
        "1e127",
        "-1e127",
        "1.1e126",
        "9e126",
        "2E+126",
        "1001e123",
        "1e-129",
        "0.1e-128",
        "1e99999999999999999999",
    ] {
        assert_eq!(
            number(value),
            Err(InvalidMessage::NumberOutOfRange("n".to_owned())),
            "{value:?}"
        );
    }
}

// --- Size ---

#[test]
fn message_size_counts_body_names_types_and_values() {
    let mut attrs = one("a", string("String", "xyz"));
    assert_eq!(message_size("hello", &attrs), 5 + 1 + 6 + 3);
    attrs.insert("bin".to_owned(), binary("Binary", b"Hello binary world!"));
    assert_eq!(message_size("hello", &attrs), 15 + 3 + 6 + 19);
    assert_eq!(validate_size("hello", &attrs, 43), Ok(()));
    let err = validate_size("hello", &attrs, 42).unwrap_err();
    assert_eq!(err, InvalidMessage::TooLarge { size: 43, max: 42 });
    assert_eq!(
        err.to_string(),
        "One or more parameters are invalid. Reason: Message must be shorter than 42 bytes."
    );
}

#[test]
fn decoded_len_matches_decoding() {
    for len in 0..10 {
        let bytes = vec![7_u8; len];
        assert_eq!(decoded_len(&BASE64.encode(&bytes)), len);
    }
}

// --- Serde ---

#[test]
fn serde_uses_snake_case_and_skips_absent_values() {
    let value: AttributeValue =
        serde_json::from_str(r#"{"data_type":"String","string_value":"x"}"#).unwrap();
    assert_eq!(value, string("String", "x"));
    assert_eq!(
        serde_json::to_string(&binary("Binary", b"hi")).unwrap(),
        r#"{"data_type":"Binary","binary_value":"aGk="}"#
    );
}

#[test]
fn serde_round_trips() {
    let attrs: Attributes = vector_attributes()
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value))
        .collect();
    let json = serde_json::to_string(&attrs).unwrap();
    assert_eq!(serde_json::from_str::<Attributes>(&json).unwrap(), attrs);
}

#[test]
fn serde_rejects_unknown_fields() {
    let err = serde_json::from_str::<AttributeValue>(
        r#"{"data_type":"String","string_value":"x","StringValue":"y"}"#,
    )
    .unwrap_err();
    assert!(err.to_string().contains("unknown field"), "{err}");
}
