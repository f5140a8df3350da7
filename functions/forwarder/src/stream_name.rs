//! Log stream names from a template. The default, `{account}_CloudTrail_{region}`, is the name
//! CloudTrail's own CloudWatch Logs delivery uses, so existing queries and metric filters keep
//! working after a team switches to trailwatch.

use trailwatch_shared::layout::KeyLocation;

pub const DEFAULT_TEMPLATE: &str = "{account}_CloudTrail_{region}";
const PLACEHOLDERS: [&str; 3] = ["{account}", "{region}", "{org}"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamNameTemplate(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TemplateError {
    #[error("unknown placeholder in {0:?}: use only {{account}}, {{region}}, {{org}}")]
    UnknownPlaceholder(String),
    #[error("{0:?} cannot form a log stream name (1-512 characters, no ':' or '*')")]
    InvalidName(String),
}

/// Which kind of CloudTrail file the events come from: Insights events go to a stream of their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamKind {
    Management,
    Insights,
}

impl StreamNameTemplate {
    pub fn parse(template: &str) -> Result<Self, TemplateError> {
        let mut rest = template.to_owned();
        for p in PLACEHOLDERS {
            rest = rest.replace(p, "x");
        }
        if rest.contains('{') || rest.contains('}') {
            return Err(TemplateError::UnknownPlaceholder(template.to_owned()));
        }
        if rest.is_empty() || rest.len() > 480 || rest.contains(':') || rest.contains('*') {
            return Err(TemplateError::InvalidName(template.to_owned()));
        }
        Ok(Self(template.to_owned()))
    }

    /// The stream for a file at `location`. Insights files get `-Insight` after `CloudTrail`
    /// when the template has it, else a `_Insights` suffix.
    pub fn render(&self, location: &KeyLocation, kind: StreamKind) -> String {
        let mut name = self
            .0
            .replace("{account}", &location.account)
            .replace("{region}", &location.region)
            .replace(
                "{org}",
                location.organization_id.as_deref().unwrap_or("none"),
            );
        if kind == StreamKind::Insights {
            name = if name.contains("_CloudTrail_") {
                name.replacen("_CloudTrail_", "_CloudTrail-Insight_", 1)
            } else {
                format!("{name}_Insights")
            };
        }
        name.chars().take(512).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loc() -> KeyLocation {
        KeyLocation {
            prefix: None,
            organization_id: Some("o-abcd123456".into()),
            account: "123456789012".into(),
            region: "eu-west-1".into(),
            time: 0,
        }
    }

    #[test]
    fn default_matches_cloudtrail_native_delivery() {
        let t = StreamNameTemplate::parse(DEFAULT_TEMPLATE).unwrap();
        assert_eq!(
            t.render(&loc(), StreamKind::Management),
            "123456789012_CloudTrail_eu-west-1"
        );
        assert_eq!(
            t.render(&loc(), StreamKind::Insights),
            "123456789012_CloudTrail-Insight_eu-west-1"
        );
    }

    #[test]
    fn custom_templates() {
        let t = StreamNameTemplate::parse("{org}/{account}/{region}").unwrap();
        assert_eq!(
            t.render(&loc(), StreamKind::Management),
            "o-abcd123456/123456789012/eu-west-1"
        );
        assert_eq!(
            t.render(&loc(), StreamKind::Insights),
            "o-abcd123456/123456789012/eu-west-1_Insights"
        );
    }

    #[test]
    fn rejects_bad_templates() {
        assert!(matches!(
            StreamNameTemplate::parse("{acount}"),
            Err(TemplateError::UnknownPlaceholder(_))
        ));
        assert!(matches!(
            StreamNameTemplate::parse("a:b"),
            Err(TemplateError::InvalidName(_))
        ));
        assert!(matches!(
            StreamNameTemplate::parse(""),
            Err(TemplateError::InvalidName(_))
        ));
    }
}
