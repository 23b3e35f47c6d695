//! The agent's `--attributes` flag: `rack:22;zone:us_east;level:[1-5]`.

use crate::ProtoError;
use crate::v1::Attribute;
use crate::v1::value::{self, Type as ValueType};

use super::value::{ParsedValue, parse_value};

/// Parses `name:value` pairs separated by `;` or newlines. A value is a scalar when it
/// is a non-negative number, ranges when bracketed (`[1-5]`), and text otherwise.
/// Mesos refuses set values (`{a,b}`) for attributes, and so do we.
pub fn parse_attributes(text: &str) -> Result<Vec<Attribute>, ProtoError> {
    let mut out = Vec::new();
    for token in text.split([';', '\n']).filter(|t| !t.is_empty()) {
        let syntax = |message: String| ProtoError::ResourceSyntax {
            input: token.to_string(),
            message,
        };
        let Some((name, value_text)) = token.split_once(':') else {
            return Err(syntax("Invalid attribute key:value pair".to_string()));
        };
        if name.is_empty() || value_text.is_empty() {
            return Err(syntax("Invalid attribute key:value pair".to_string()));
        }
        let parsed = parse_value(value_text)
            .map_err(|e| syntax(format!("Failed to parse attribute {name}: {e}")))?;
        let mut attribute = Attribute {
            name: name.to_string(),
            ..Attribute::default()
        };
        match parsed {
            ParsedValue::Scalar(v) => {
                attribute.r#type = ValueType::Scalar as i32;
                attribute.scalar = Some(value::Scalar { value: v });
            }
            ParsedValue::Ranges(spans) => {
                attribute.r#type = ValueType::Ranges as i32;
                attribute.ranges = Some(value::Ranges { range: spans });
            }
            ParsedValue::Text(text) => {
                attribute.r#type = ValueType::Text as i32;
                attribute.text = Some(value::Text { value: text });
            }
            ParsedValue::Set(_) => {
                return Err(syntax(format!(
                    "Bad type for attribute {name}: sets are not supported"
                )));
            }
        }
        out.push(attribute);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_kinds() {
        let attrs = parse_attributes("rack:22;zone:us_east;level:[1-5]\nos:linux").expect("parses");
        assert_eq!(attrs.len(), 4);
        assert_eq!(attrs[0].name, "rack");
        assert_eq!(attrs[0].r#type, ValueType::Scalar as i32);
        assert_eq!(attrs[0].scalar.as_ref().map(|s| s.value), Some(22.0));
        assert_eq!(attrs[1].r#type, ValueType::Text as i32);
        assert_eq!(
            attrs[1].text.as_ref().map(|t| t.value.as_str()),
            Some("us_east")
        );
        assert_eq!(attrs[2].r#type, ValueType::Ranges as i32);
        let range = &attrs[2].ranges.as_ref().expect("ranges").range;
        assert_eq!((range[0].begin, range[0].end), (1, 5));
        assert_eq!(
            attrs[3].text.as_ref().map(|t| t.value.as_str()),
            Some("linux")
        );
    }

    #[test]
    fn refusals() {
        assert!(parse_attributes("rack").is_err());
        assert!(parse_attributes(":1").is_err());
        assert!(parse_attributes("rack:").is_err());
        assert!(parse_attributes("a:{x,y}").is_err());
        assert!(parse_attributes("a:[1-").is_err());
        assert_eq!(parse_attributes("").map(|a| a.len()).ok(), Some(0));
    }
}
