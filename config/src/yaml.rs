//! YAML in rekey: the one place that knows the YAML library, the limits that
//! keep a hostile config (alias bombs, deep nesting, huge files) from costing
//! more than milliseconds and a few megabytes, and how parser errors become a
//! YAML path and a message.
//!
//! The library is serde-saphyr: pure Rust with `unsafe` forbidden, serde both
//! ways, budgets against hostile input and located errors. It replaced
//! serde_yaml 0.9, which is deprecated, archived upstream and runs on
//! unsafe-libyaml while the workspace forbids unsafe code. Its writer differs
//! from libyaml's in quoting only (double quotes instead of single; keys with
//! `:` such as `Fn::Sub` and date-like strings such as `2010-09-09` quoted),
//! so YAML templates are the same documents with different quoting: no safe,
//! maintained library emits libyaml's exact bytes.
//!
//! Reading takes three steps, each refusing early what the next would pay for:
//! the size limit ([`MAX_CONFIG_BYTES`], before a byte is parsed), a streaming
//! pass over the parser's events against [`budget`] (aliases, anchors, depth,
//! nodes, documents; it never expands an alias, so a "billion laughs" costs
//! what its text costs), then deserialization with the same budget plus
//! alias-replay limits, tracked by `serde_path_to_error` for the YAML path.

use serde::de::{DeserializeOwned, Unexpected};
use serde::Serialize;
use serde_saphyr::budget::{check_yaml_budget, BudgetBreach, EnforcingPolicy};
use serde_saphyr::granit_parser::{Event, Parser, ScanError};
use serde_saphyr::{Budget, Error, Location, Options};

/// The largest config rekey reads (1 MiB); the commented built-in default is
/// about 6 KiB, so this leaves room for thousands of account ids.
pub const MAX_CONFIG_BYTES: usize = 1024 * 1024;

/// Deepest nesting of sequences and mappings; a rekey config nests 4 levels.
const MAX_DEPTH: usize = 32;
/// YAML nodes (scalars, sequences, mappings) in one file.
const MAX_NODES: usize = 50_000;
/// Aliases (`*name`) and anchors (`&name`) in one file; a config needs few.
const MAX_ALIASES: usize = 1_000;
/// Events an alias may replay in total while deserializing (`*accounts`
/// used a few times over a long list stays far below it).
const MAX_REPLAYED_EVENTS: usize = 100_000;

/// A YAML text that could not be read as a `T`: where, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct YamlError {
    /// Dotted path of the offending value (`(root)` for the document itself).
    pub path: String,
    /// What is wrong, with the line and column when known.
    pub message: String,
}

impl std::fmt::Display for YamlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

impl std::error::Error for YamlError {}

/// The parser limits every YAML text rekey reads is held to.
pub fn budget() -> Budget {
    let mut budget = Budget::default();
    budget.max_reader_input_bytes = Some(MAX_CONFIG_BYTES);
    budget.flow_nesting_limit = MAX_DEPTH;
    budget.max_events = 2 * MAX_NODES;
    budget.max_aliases = MAX_ALIASES;
    budget.max_anchors = MAX_ALIASES;
    budget.max_recorded_anchor_events = MAX_REPLAYED_EVENTS;
    budget.max_recorded_anchor_bytes = MAX_CONFIG_BYTES;
    budget.max_depth = MAX_DEPTH;
    budget.max_inclusion_depth = 0;
    budget.max_documents = 1;
    budget.max_nodes = MAX_NODES;
    budget.max_total_scalar_bytes = MAX_CONFIG_BYTES;
    budget.max_merge_keys = MAX_ALIASES;
    budget
}

fn options() -> Options {
    serde_saphyr::options! {
        budget: Some(budget()),
        alias_limits: serde_saphyr::alias_limits! {
            max_total_replayed_events: MAX_REPLAYED_EVENTS,
            max_replay_stack_depth: MAX_DEPTH,
            max_alias_expansions_per_anchor: MAX_ALIASES,
        },
        // Messages are one line each (the CLI lists them under the file).
        with_snippet: false,
        // YAML 1.2 booleans only, as serde_yaml read them: `yes`/`on` are
        // refused rather than silently meaning `true`.
        strict_booleans: true,
    }
}

/// Reads one YAML document as a `T`, held to [`budget`] and
/// [`MAX_CONFIG_BYTES`]. An empty text (or only comments) reads as `{}`.
pub fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, YamlError> {
    if text.len() > MAX_CONFIG_BYTES {
        return Err(root(too_large(text.len())));
    }
    match check_yaml_budget(text, budget(), EnforcingPolicy::AllContent) {
        Ok(report) => {
            if let Some(breach) = report.breached {
                return Err(root(format!("refused: {}", breach_message(&breach))));
            }
        }
        Err(scan) => return Err(syntax_error(text, &scan)),
    }
    let mut path = None;
    serde_saphyr::with_deserializer_from_str_with_options(text, options(), |de| {
        serde_path_to_error::deserialize(de).map_err(|e| {
            path = Some(e.path().to_string());
            e.into_inner()
        })
    })
    .map_err(|e| {
        let path = path.unwrap_or_default();
        let path = match (&e, path.strip_suffix('?')) {
            // The duplicate's key is known to the error, not to the path.
            (Error::DuplicateMappingKey { key: Some(key), .. }, Some(parent)) => format!("{parent}{key}"),
            _ => path,
        };
        YamlError { path: display_path(&path), message: message(&e, text) }
    })
}

/// Writes `value` as YAML: block style, two-space indents, long strings kept
/// on one line (folding them would make templates harder to grep and diff).
pub fn to_string<T: Serialize>(value: &T) -> String {
    let options = serde_saphyr::ser_options! { prefer_block_scalars: false };
    serde_saphyr::to_string_with_options(value, options).expect("rekey's types serialize to YAML")
}

/// The message for a text over [`MAX_CONFIG_BYTES`].
pub(crate) fn too_large(bytes: usize) -> String {
    format!("refused: the file is {bytes} bytes; a rekey config may be at most {MAX_CONFIG_BYTES} bytes (1 MiB)")
}

fn root(message: String) -> YamlError {
    YamlError { path: "(root)".into(), message }
}

fn display_path(path: &str) -> String {
    if path.is_empty() || path == "." || path == "?" {
        "(root)".to_string()
    } else {
        path.to_string()
    }
}

fn breach_message(breach: &BudgetBreach) -> String {
    let limits = budget();
    match breach {
        BudgetBreach::AliasAnchorRatio { aliases, anchors } => format!(
            "{aliases} aliases for {anchors} anchor(s) look like an alias bomb (\"billion laughs\"); \
             a rekey config needs few aliases, if any"
        ),
        BudgetBreach::Aliases { .. } | BudgetBreach::Anchors { .. } => {
            format!("more than {} aliases or anchors; a rekey config needs few, if any", limits.max_aliases)
        }
        BudgetBreach::Depth { .. } => {
            format!("nested more than {} levels deep; a rekey config nests 4 levels", limits.max_depth)
        }
        BudgetBreach::Documents { .. } => {
            "more than one YAML document (`---`); a config file holds exactly one".to_string()
        }
        BudgetBreach::Nodes { .. } | BudgetBreach::Events { .. } => {
            format!("more than {} YAML values; a rekey config has a few hundred", limits.max_nodes)
        }
        BudgetBreach::MergeKeys { .. } => format!("more than {} merge keys (`<<`)", limits.max_merge_keys),
        other => format!("the YAML exceeds a parser limit ({other:?})"),
    }
}

/// A scanner error (the text is not YAML), at the path being read when it
/// occurred: the parser's events up to the error say which key's value, or
/// which list item, was being scanned.
fn syntax_error(text: &str, scan: &ScanError) -> YamlError {
    enum Frame {
        Map { key: Option<String> },
        Seq { index: usize },
    }
    fn done_value(stack: &mut [Frame]) {
        match stack.last_mut() {
            Some(Frame::Map { key }) => *key = None,
            Some(Frame::Seq { index }) => *index += 1,
            None => {}
        }
    }
    let mut stack: Vec<Frame> = Vec::new();
    for item in Parser::new_from_str(text) {
        let Ok((event, _)) = item else { break };
        let opens = matches!(event, Event::MappingStart(..) | Event::SequenceStart(..));
        let is_node = matches!(event, Event::Scalar(..) | Event::Alias(..)) || opens;
        // A node in key position of a mapping is the key, not a value.
        if let (true, Some(Frame::Map { key: key @ None })) = (is_node, stack.last_mut()) {
            *key = Some(match &event {
                Event::Scalar(value, ..) => value.to_string(),
                _ => "?".to_string(),
            });
            if !opens {
                continue;
            }
        }
        match event {
            Event::MappingStart(..) => stack.push(Frame::Map { key: None }),
            Event::SequenceStart(..) => stack.push(Frame::Seq { index: 0 }),
            Event::MappingEnd | Event::SequenceEnd => {
                stack.pop();
                done_value(&mut stack);
            }
            Event::Scalar(..) | Event::Alias(..) => done_value(&mut stack),
            _ => {}
        }
    }
    let mut path = String::new();
    for frame in &stack {
        match frame {
            Frame::Map { key: Some(key) } => {
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(key);
            }
            Frame::Map { key: None } => break,
            Frame::Seq { index } => path.push_str(&format!("[{index}]")),
        }
    }
    let marker = scan.marker();
    YamlError {
        path: display_path(&path),
        message: format!("not valid YAML: {} at line {}, column {}", scan.info(), marker.line(), marker.col() + 1),
    }
}

/// One line for a deserialization error, in serde's own words where the
/// library has shorter ones ("invalid type: string \"ninety\", expected u32"
/// says more than "invalid u32"), always with the line and column.
fn message(error: &Error, text: &str) -> String {
    let (text_part, location) = match error {
        Error::AliasError { error, .. } | Error::WithSnippet { error, .. } => return message(error, text),
        Error::InvalidScalar { ty, location } => {
            (format!("invalid type: {}, expected {}", found(text, location), expected(ty)), location)
        }
        Error::InvalidBooleanStrict { location } => {
            (format!("invalid type: {}, expected a boolean (`true` or `false`)", found(text, location)), location)
        }
        Error::Unexpected { expected: what, location } => {
            (format!("invalid type: {}, expected {}", found(text, location), expected(what)), location)
        }
        Error::NullIntoString { location } => ("invalid type: null, expected a string".to_string(), location),
        Error::DuplicateMappingKey { key, location } => {
            (format!("duplicate key `{}`", key.as_deref().unwrap_or("?")), location)
        }
        Error::MultipleDocuments { location, .. } => {
            ("more than one YAML document (`---`); a config file holds exactly one".to_string(), location)
        }
        Error::Budget { breach, location } => (format!("refused: {}", breach_message(breach)), location),
        Error::AliasReplayLimitExceeded { location, .. }
        | Error::AliasExpansionLimitExceeded { location, .. }
        | Error::AliasReplayStackDepthExceeded { location, .. }
        | Error::AliasReplayCounterOverflow { location } => {
            ("refused: aliases expand to more than a rekey config can hold (an alias bomb?)".to_string(), location)
        }
        // The library's message already ends with the line and column.
        other => return other.to_string(),
    };
    if *location == Location::UNKNOWN {
        text_part
    } else {
        format!("{text_part} at line {}, column {}", location.line(), location.column())
    }
}

fn expected(what: &str) -> String {
    match what {
        "map" | "mapping" | "mapping start" => "a map".to_string(),
        "seq" | "sequence" | "sequence start" => "a sequence".to_string(),
        "bool" | "boolean" => "a boolean".to_string(),
        "string" | "string scalar" => "a string".to_string(),
        other => other.to_string(),
    }
}

/// What the source holds at `location`, as serde names it (`integer `-5``,
/// `string "ninety"`, `sequence`).
fn found(text: &str, location: &Location) -> String {
    let span = location.span();
    let source = span
        .byte_offset()
        .zip(span.byte_len())
        .and_then(|(start, len)| text.get(usize::try_from(start).ok()?..usize::try_from(start + len).ok()?))
        .unwrap_or("");
    match source.chars().next() {
        Some('[' | '-') if source.len() == 1 || source.starts_with("- ") || source.starts_with('[') => {
            return "sequence".to_string();
        }
        Some('{') => return "map".to_string(),
        Some('"' | '\'') => {
            let inner = source.get(1..source.len().saturating_sub(1)).unwrap_or("");
            return Unexpected::Str(inner).to_string();
        }
        _ => {}
    }
    let unexpected = if let Ok(n) = source.parse::<i64>() {
        Unexpected::Signed(n)
    } else if let Ok(n) = source.parse::<u64>() {
        Unexpected::Unsigned(n)
    } else if let (true, Ok(x)) = (source.contains(['.', 'e', 'E']), source.parse::<f64>()) {
        Unexpected::Float(x)
    } else if let Ok(b) = source.parse::<bool>() {
        Unexpected::Bool(b)
    } else if matches!(source, "" | "~" | "null" | "Null" | "NULL") {
        Unexpected::Unit
    } else {
        Unexpected::Str(source)
    };
    match unexpected {
        Unexpected::Unit => "null".to_string(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ConfigFile;
    use pretty_assertions::assert_eq;
    use std::time::{Duration, Instant};

    fn error(text: &str) -> YamlError {
        from_str::<ConfigFile>(text).expect_err("the text is refused")
    }

    /// Refused, and in far less time than expanding the input would take.
    fn refused_quickly(text: &str) -> YamlError {
        let start = Instant::now();
        let err = error(text);
        assert!(start.elapsed() < Duration::from_secs(2), "took {:?}", start.elapsed());
        err
    }

    /// `levels` anchors, each a list of `width` aliases to the previous one:
    /// fully expanded, `width^levels` scalars.
    fn laughs(indent: &str, levels: usize, width: usize) -> String {
        let mut text = format!("{indent}l0: &l0 [lol]\n");
        for i in 1..levels {
            let aliases = vec![format!("*l{}", i - 1); width].join(", ");
            text.push_str(&format!("{indent}l{i}: &l{i} [{aliases}]\n"));
        }
        text
    }

    #[test]
    fn a_billion_laughs_is_refused_by_the_alias_budget() {
        // 20^20 scalars expanded; 380 aliases for 20 anchors in the text.
        let err = refused_quickly(&format!("deployment:\n  tags:\n{}", laughs("    ", 20, 20)));
        assert_eq!(err.path, "(root)");
        assert!(err.message.contains("look like an alias bomb (\"billion laughs\")"), "{}", err.message);
    }

    #[test]
    fn the_classic_billion_laughs_is_refused_before_any_expansion() {
        // 81 aliases: under the ratio check's threshold, refused by its shape.
        let err = refused_quickly(&laughs("", 10, 9));
        assert_eq!((err.path.as_str(), err.message.contains("unknown field `l0`")), ("l0", true), "{err}");
        let err = refused_quickly(&format!("deployment:\n  tags:\n{}", laughs("    ", 10, 9)));
        assert_eq!(err.path, "deployment.tags.l0");
        assert!(err.message.starts_with("invalid type: sequence, expected a string"), "{}", err.message);
        // An alias used where a list of ids is read expands no further than its first item.
        let text = format!("{}organization:\n  exclude_account_ids: *l9\n", laughs("x", 10, 9).replace("xl", "# l"));
        assert!(!refused_quickly(&text).message.is_empty());
    }

    #[test]
    fn many_aliases_are_refused() {
        let aliases = vec!["*x"; MAX_ALIASES + 1].join(", ");
        let err = refused_quickly(&format!("organization:\n  exclude_account_ids: [&x '111111111111', {aliases}]\n"));
        assert_eq!(err.message, "refused: more than 1000 aliases or anchors; a rekey config needs few, if any");
    }

    #[test]
    fn deep_nesting_is_refused() {
        let mut block = String::from("deployment:\n");
        for depth in 1..200 {
            block.push_str(&format!("{}k{depth}:\n", "  ".repeat(depth)));
        }
        let err = refused_quickly(&block);
        assert_eq!(err.message, "refused: nested more than 32 levels deep; a rekey config nests 4 levels");

        let flow = format!("deployment:\n  tags: {}{}\n", "[".repeat(100_000), "]".repeat(100_000));
        let err = refused_quickly(&flow);
        assert!(err.message.starts_with("not valid YAML: "), "{}", err.message);
    }

    #[test]
    fn text_over_the_size_limit_is_refused_before_parsing() {
        let text = format!("mode: audit\n#{}\n", "x".repeat(MAX_CONFIG_BYTES));
        let err = refused_quickly(&text);
        assert_eq!(err.path, "(root)");
        assert_eq!(
            err.message,
            format!("refused: the file is {} bytes; a rekey config may be at most 1048576 bytes (1 MiB)", text.len())
        );
        // Just under the limit is read (a long comment is no reason to refuse).
        let text = format!("mode: audit\n#{}\n", "x".repeat(MAX_CONFIG_BYTES - 20));
        assert!(from_str::<ConfigFile>(&text).is_ok());
    }

    #[test]
    fn a_second_document_and_a_duplicate_key_are_refused_with_their_place() {
        let err = error("mode: audit\n---\nmode: enforce\n");
        assert_eq!(err.message, "refused: more than one YAML document (`---`); a config file holds exactly one");
        let err = error("lifecycle:\n  rotate_after_days: 30\n  rotate_after_days: 40\n");
        assert_eq!(
            err.to_string(),
            "lifecycle.rotate_after_days: duplicate key `rotate_after_days` at line 3, column 3"
        );
    }

    #[test]
    fn syntax_errors_name_the_value_being_read() {
        let err = error("mode: \"audit\n");
        assert_eq!(err.to_string(), "mode: not valid YAML: unclosed quote at line 1, column 7");
        let err =
            error("lifecycle:\n  rotate_after_days: 3\norganization:\n  exclude_account_ids: [\"1234\", \"5678\"\n");
        assert!(err.path.starts_with("organization.exclude_account_ids["), "{err}");
        assert!(err.message.contains("line 4"), "{}", err.message);
        let err = error("lifecycle:\n\trotate_after_days: 3\n");
        assert_eq!(err.path, "lifecycle");
    }

    #[test]
    fn type_errors_say_what_was_found_in_serde_words() {
        let cases = [
            ("lifecycle:\n  rotate_after_days: -5\n", "invalid type: integer `-5`, expected u32 at line 2, column 22"),
            (
                "lifecycle:\n  rotate_after_days: ninety\n",
                "invalid type: string \"ninety\", expected u32 at line 2, column 22",
            ),
            ("deployment:\n  tags: [a, b]\n", "invalid type: sequence, expected a map at line 2, column 9"),
            (
                "schedule:\n  enabled: yes\n",
                "invalid type: string \"yes\", expected a boolean (`true` or `false`) at line 2, column 12",
            ),
            ("deployment:\n  region: null\n", "invalid type: null, expected a string at line 2, column 11"),
        ];
        for (text, message) in cases {
            assert_eq!(error(text).message, message, "{text}");
        }
    }

    #[test]
    fn null_sections_and_lists_read_as_their_defaults() {
        // Every line under a key commented out leaves YAML null; serde_yaml read it as empty.
        let text = "lifecycle:\n  # rotate_after_days: 60\ndeployment:\n  tags:\nvpc:\n  subnet_ids: ~\n";
        let file: ConfigFile = from_str(text).unwrap();
        assert_eq!(file, from_str::<ConfigFile>("{}").unwrap());
    }

    #[test]
    fn the_writer_quotes_only_what_yaml_would_misread() {
        let value = serde_json::json!({
            "AWSTemplateFormatVersion": "2010-09-09",
            "Description": "rekey: it's here",
            "Value": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"},
            "List": ["*", "111111111111", "plain"],
            "Empty": {},
        });
        assert_eq!(
            to_string(&value),
            "AWSTemplateFormatVersion: \"2010-09-09\"\nDescription: \"rekey: it's here\"\nValue:\n  \"Fn::Sub\": arn:${AWS::Partition}:iam::${AWS::AccountId}:root\nList:\n- \"*\"\n- \"111111111111\"\n- plain\nEmpty: {}\n"
        );
        assert_eq!(from_str::<serde_json::Value>(&to_string(&value)).unwrap(), value);
    }

    #[test]
    fn a_100_mb_file_is_refused_without_reading_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("huge.yaml");
        // Sparse: 100 MB long without writing 100 MB.
        std::fs::File::create(&path).unwrap().set_len(100 * 1024 * 1024).unwrap();
        let start = Instant::now();
        let err = crate::Config::load(&path).unwrap_err();
        assert!(start.elapsed() < Duration::from_secs(1), "took {:?}", start.elapsed());
        let issues = err.issues();
        assert_eq!(issues[0].path, "(file)");
        assert!(
            issues[0]
                .message
                .ends_with("refused: the file is 104857600 bytes; a rekey config may be at most 1048576 bytes (1 MiB)"),
            "{}",
            issues[0].message
        );
    }

    #[test]
    fn a_file_that_is_not_utf8_is_refused_with_the_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("latin1.yaml");
        std::fs::write(&path, b"mode: audit\nnotifications:\n  subject: caf\xe9\n").unwrap();
        let err = crate::Config::load(&path).unwrap_err();
        assert!(
            err.to_string().ends_with("refused: the file is not UTF-8 text (invalid byte at offset 41, line 3)"),
            "{err}"
        );
    }
}
