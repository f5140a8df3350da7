//! Unit tests of the template reader, on a small template that uses each supported intrinsic
//! and on the real `template.yaml`.

use super::*;
use serde_json::json;

/// A small template that uses each intrinsic the reader supports.
const TEMPLATE: &str = r#"
Parameters:
  Mode: { Type: String, Default: "on" }
  KeyArn: { Type: String, Default: "" }
  Days: { Type: Number, Default: 365 }
  Uri: { Type: String, Default: "s3://rules-bucket/path/rules.json" }
Conditions:
  IsOn: !Equals [!Ref Mode, "on"]
  HasKey: !Not [!Equals [!Ref KeyArn, ""]]
  OnAndKey: !And [!Condition IsOn, !Condition HasKey]
  OnOrKey: !Or [!Condition IsOn, !Condition HasKey]
Resources:
  Bucket:
    Type: AWS::S3::Bucket
    Condition: IsOn
  Topic:
    Type: AWS::SNS::Topic
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Policies:
        - Statement:
            - Effect: Allow
              Action: s3:GetObject
              Resource: !Sub "${Bucket.Arn}/${AWS::AccountId}/*"
"#;

fn bindings() -> Bindings {
    let mut resources = BTreeMap::new();
    resources.insert(
        "Bucket".into(),
        ResourceValues::new("the-bucket", &[("Arn", "arn:aws:s3:::the-bucket")]),
    );
    resources.insert(
        "Topic".into(),
        ResourceValues::new(
            "arn:aws:sns:eu-west-1:123456789012:t",
            &[("TopicName", "t")],
        ),
    );
    Bindings {
        partition: "aws".into(),
        region: "eu-west-1".into(),
        account_id: "123456789012".into(),
        stack_name: "stack".into(),
        parameters: BTreeMap::new(),
        resources,
    }
}

/// Resolves `expr` (YAML) against TEMPLATE with `params` set.
fn eval_with(expr: &str, params: &[(&str, &str)]) -> Result<Option<Value>> {
    let template = parse_template(TEMPLATE).unwrap();
    let mut b = bindings();
    for (k, v) in params {
        b.parameters.insert(k.to_string(), v.to_string());
    }
    let value = parse_template(&format!("v: {expr}")).unwrap()["v"].clone();
    Resolver::new(&template, &b).resolve(&value, "v")
}

fn eval(expr: &str) -> Value {
    eval_with(expr, &[]).unwrap().expect("a value")
}

fn error(expr: &str) -> String {
    format!("{:#}", eval_with(expr, &[]).expect_err("an error"))
}

#[test]
fn short_form_tags_become_the_long_form() {
    let doc =
        parse_template("a: !Ref X\nb: !GetAtt A.B\nc: !Condition C\nd: !Sub [s, {}]").unwrap();
    assert_eq!(
        doc,
        json!({"a": {"Ref": "X"}, "b": {"Fn::GetAtt": "A.B"}, "c": {"Condition": "C"},
               "d": {"Fn::Sub": ["s", {}]}})
    );
}

#[test]
fn ref_gives_parameters_defaults_resources_and_pseudo_parameters() {
    assert_eq!(eval("!Ref Mode"), json!("on"));
    assert_eq!(
        eval_with("!Ref Mode", &[("Mode", "off")]).unwrap(),
        Some(json!("off"))
    );
    // A numeric Default is passed as its text, as CloudFormation passes every parameter.
    assert_eq!(eval("!Ref Days"), json!("365"));
    assert_eq!(
        eval("!Ref Topic"),
        json!("arn:aws:sns:eu-west-1:123456789012:t")
    );
    assert_eq!(eval("!Ref Bucket"), json!("the-bucket"));
    assert_eq!(
        eval("[!Ref AWS::Partition, !Ref AWS::Region, !Ref AWS::AccountId, !Ref AWS::StackName]"),
        json!(["aws", "eu-west-1", "123456789012", "stack"])
    );
}

#[test]
fn get_att_in_both_forms() {
    assert_eq!(eval("!GetAtt Bucket.Arn"), json!("arn:aws:s3:::the-bucket"));
    assert_eq!(eval("!GetAtt [Topic, TopicName]"), json!("t"));
    assert_eq!(eval("{ \"Fn::GetAtt\": [Topic, TopicName] }"), json!("t"));
}

#[test]
fn sub_in_both_forms_with_attributes_pseudo_parameters_and_literals() {
    assert_eq!(
        eval(
            "!Sub \"arn:${AWS::Partition}:sns:${AWS::Region}:${AWS::AccountId}:${Topic.TopicName}\""
        ),
        json!("arn:aws:sns:eu-west-1:123456789012:t")
    );
    assert_eq!(
        eval("!Sub \"${Bucket}/${!Literal}\""),
        json!("the-bucket/${Literal}")
    );
    assert_eq!(
        eval("!Sub [\"${A}/${Bucket.Arn}\", { A: !If [IsOn, yes-on, no-off] }]"),
        json!("yes-on/arn:aws:s3:::the-bucket")
    );
}

#[test]
fn join_select_split() {
    assert_eq!(eval("!Join [\"-\", [a, !Ref Mode, b]]"), json!("a-on-b"));
    assert_eq!(
        eval("!Select [1, !Split [\"s3://\", !Ref Uri]]"),
        json!("rules-bucket/path/rules.json")
    );
    assert_eq!(eval("!Select [\"0\", [x, y]]"), json!("x"));
    assert_eq!(eval("!Join [\"\", !Split [\"/\", a/b/c]]"), json!("abc"));
    assert!(error("!Select [2, [x, y]]").contains("index 2 out of a list of 2"));
}

#[test]
fn a_condition_both_ways() {
    let expr = "!If [HasKey, !Ref KeyArn, none]";
    assert_eq!(eval(expr), json!("none"));
    let with_key = eval_with(expr, &[("KeyArn", "arn:aws:kms:eu-west-1:1:key/k")]).unwrap();
    assert_eq!(with_key, Some(json!("arn:aws:kms:eu-west-1:1:key/k")));
}

#[test]
fn and_or_condition_functions() {
    let both = "[!If [OnAndKey, and, not-and], !If [OnOrKey, or, not-or]]";
    assert_eq!(eval(both), json!(["not-and", "or"]));
    let key = [("KeyArn", "k")];
    assert_eq!(eval_with(both, &key).unwrap(), Some(json!(["and", "or"])));
    let off = [("Mode", "off")];
    assert_eq!(
        eval_with(both, &off).unwrap(),
        Some(json!(["not-and", "not-or"]))
    );
}

#[test]
fn the_branch_not_taken_is_not_resolved() {
    // With Mode=off the Bucket is not created: the other branch may not refer to it.
    let expr = "!If [IsOn, !Ref Bucket, !Ref Mode]";
    assert_eq!(
        eval_with(expr, &[("Mode", "off")]).unwrap(),
        Some(json!("off"))
    );
    let err = eval_with("!Ref Bucket", &[("Mode", "off")]).unwrap_err();
    assert!(format!("{err:#}").contains("IsOn is false"), "{err:#}");
}

#[test]
fn no_value_entries_are_removed() {
    assert_eq!(
        eval("[a, !If [HasKey, b, !Ref AWS::NoValue], c]"),
        json!(["a", "c"])
    );
    assert_eq!(
        eval("{ keep: 1, drop: !Ref AWS::NoValue }"),
        json!({"keep": 1})
    );
    assert_eq!(eval_with("!Ref AWS::NoValue", &[]).unwrap(), None);
}

#[test]
fn unknown_references_and_intrinsics_are_errors_that_name_them() {
    assert!(
        error("!Ref Nope").contains("\"Nope\""),
        "{}",
        error("!Ref Nope")
    );
    assert!(error("!Sub \"${Nope}\"").contains("\"Nope\""));
    assert!(error("!GetAtt Nope.Arn").contains("no resource Nope"));
    assert!(error("!GetAtt Topic.Nope").contains("attribute Nope"));
    assert!(error("!FindInMap [M, K, V]").contains("Fn::FindInMap"));
    assert!(error("!Ref AWS::URLSuffix").contains("AWS::URLSuffix"));
    assert!(error("!If [Nope, a, b]").contains("no condition Nope"));
}

#[test]
fn a_resource_without_binding_is_an_error() {
    let template = parse_template(TEMPLATE).unwrap();
    let mut b = bindings();
    b.resources.remove("Topic");
    let err = Resolver::new(&template, &b)
        .resolve(&json!({"Ref": "Topic"}), "v")
        .unwrap_err();
    assert!(err.to_string().contains("Topic has no binding"), "{err}");
}

#[test]
fn policies_of_a_function() {
    let template = parse_template(TEMPLATE).unwrap();
    let policies = policies_of(&template, "Fn", &bindings()).unwrap();
    assert_eq!(
        policies,
        vec![json!({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": "s3:GetObject",
            "Resource": "arn:aws:s3:::the-bucket/123456789012/*"}]})]
    );
}

#[test]
fn managed_policies_and_policy_templates_fail_clearly() {
    let named = TEMPLATE.replace(
        "        - Statement:",
        "        - AWSLambdaExecute\n        - Statement:",
    );
    let err = policies_of(&parse_template(&named).unwrap(), "Fn", &bindings()).unwrap_err();
    assert!(
        err.to_string()
            .contains("managed policy \"AWSLambdaExecute\""),
        "{err}"
    );
    let sam = TEMPLATE.replace(
        "        - Statement:",
        "        - S3ReadPolicy: { BucketName: b }\n        - Statement:",
    );
    let err = policies_of(&parse_template(&sam).unwrap(), "Fn", &bindings()).unwrap_err();
    assert!(
        err.to_string().contains("SAM policy template S3ReadPolicy"),
        "{err}"
    );
}

#[test]
fn the_real_template_resolves_for_each_function() {
    let template = crate::workspace_root().join("template.yaml");
    let doc = parse_template(&std::fs::read_to_string(&template).unwrap()).unwrap();
    let mut b = bindings();
    // Every resource gets a binding with every attribute the template might ask for.
    for id in doc["Resources"].as_object().unwrap().keys() {
        let attrs = [("Arn", "arn:x"), ("QueueName", "q"), ("TopicName", "t")];
        b.resources
            .insert(id.clone(), ResourceValues::new(format!("ref-{id}"), &attrs));
    }
    for function in [
        "ForwarderFunction",
        "AlerterFunction",
        "DigestVerifierFunction",
    ] {
        let policies = function_policies(&template, function, &b).unwrap();
        assert!(!policies.is_empty(), "{function} has policies");
        let text = serde_json::to_string(&policies).unwrap();
        assert!(
            !text.contains("Fn::") && !text.contains("\"Ref\""),
            "{function}: {text}"
        );
    }
}
