//! The full report as a CSV attachment: one row per key decision (account,
//! account name, user, key, action, reason, due, result, new key id, secret
//! ARN; never a secret value), and how it fits SES's message size limit:
//! attached whole, split across several messages, or replaced by a pointer
//! to the run summary in the logs.

use super::context::action_result;
use super::ports::Attachment;
use super::render::{code, reason_text};
use crate::messages::{Digest, RecipientKind};
use crate::report::{AccountStatus, ActionResult, RowKind};
use std::ops::Range;

/// SES v2's limit on one message, attachments and encoding included (40 MB).
pub const SES_MAX_MESSAGE_BYTES: usize = 40_000_000;

/// Messages a split report may take before a pointer to the logs replaces
/// it: more would bury the reader's inbox.
pub const MAX_PARTS: usize = 5;

/// Room kept in each message for headers and part boundaries.
const ENVELOPE_BYTES: usize = 16 * 1024;

/// The CSV's header.
pub const CSV_COLUMNS: [&str; 10] = [
    "account_id",
    "account_name",
    "user",
    "access_key_id",
    "action",
    "reason",
    "due",
    "result",
    "new_access_key_id",
    "secret_arn",
];

/// A digest's full report as CSV lines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReportCsv {
    /// File name, `rekey-<run id>.csv`.
    pub name: String,
    /// The header line (with its line end).
    pub header: String,
    /// One line per key decision (each with its line end).
    pub rows: Vec<String>,
}

/// Whether a digest carries the full report: admin digests always, others
/// when their detail is not inline.
pub fn wanted(digest: &Digest, inline_account_limit: usize) -> bool {
    digest.recipient_kind() == RecipientKind::Admin
        || digest.sections.len() + digest.missing_account_ids.len() > inline_account_limit
}

/// One CSV line; cells a spreadsheet would run as a formula get a leading `'`.
fn line(cells: [&str; 10]) -> String {
    let mut writer = csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(Vec::new());
    let guarded = cells.map(|c| match c.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{c}"),
        _ => c.to_string(),
    });
    // Writing to a Vec cannot fail.
    let _ = writer.write_record(&guarded);
    String::from_utf8(writer.into_inner().unwrap_or_default()).unwrap_or_default()
}

impl ReportCsv {
    /// The rows of every account of `digest`, in report order, then its
    /// failed accounts and the accounts without a result.
    pub fn of(digest: &Digest) -> ReportCsv {
        let mut rows = Vec::new();
        for section in &digest.sections {
            let report = &section.report;
            if let AccountStatus::Failed { error } = &report.status {
                let what = format!("could not be audited: {error}");
                rows.push(line([
                    &report.account_id,
                    &report.account_name,
                    "",
                    "",
                    "account_failed",
                    &what,
                    "",
                    "failed",
                    "",
                    "",
                ]));
            }
            for row in report.rows() {
                let arn = row.user.secret_arn.as_deref().unwrap_or_default();
                let cells = cells(row.kind);
                let [action, reason, due, result, new_key] = [0, 1, 2, 3, 4].map(|i| cells[i].as_str());
                let (id, name, user) = (&report.account_id, &report.account_name, &row.user.user_name);
                rows.push(line([id, name, user, &cells[5], action, reason, due, result, new_key, arn]));
            }
        }
        for id in &digest.missing_account_ids {
            rows.push(line([id, "", "", "", "no_result", "no result when the digest was sent", "", "", "", ""]));
        }
        ReportCsv { name: format!("rekey-{}.csv", file_safe(&digest.run_id)), header: line(CSV_COLUMNS), rows }
    }

    /// The whole file.
    pub fn bytes(&self) -> Vec<u8> {
        self.chunk(0..self.rows.len())
    }

    /// The header and the rows of `range`.
    pub fn chunk(&self, range: Range<usize>) -> Vec<u8> {
        let mut out = self.header.clone().into_bytes();
        for row in &self.rows[range] {
            out.extend_from_slice(row.as_bytes());
        }
        out
    }

    /// As an attachment named `name`.
    pub fn attachment(&self, name: &str, range: Range<usize>) -> Attachment {
        Attachment { file_name: name.to_string(), content_type: "text/csv".into(), data: self.chunk(range) }
    }

    /// The name of part `k` (from 1) of `n`.
    pub fn part_name(&self, k: usize, n: usize) -> String {
        format!("{}-part{k}of{n}.csv", self.name.trim_end_matches(".csv"))
    }

    /// Row ranges whose messages each stay within `limit` bytes when the
    /// rest of the message takes `fixed` bytes; `None` when one row alone
    /// does not fit.
    pub fn split(&self, fixed: usize, limit: usize) -> Option<Vec<Range<usize>>> {
        let room = limit.checked_sub(fixed + ENVELOPE_BYTES)?;
        let mut parts = Vec::new();
        let (mut start, mut bytes) = (0, self.header.len());
        for (i, row) in self.rows.iter().enumerate() {
            if encoded_len(bytes + row.len()) > room {
                if i == start {
                    return None;
                }
                parts.push(start..i);
                (start, bytes) = (i, self.header.len());
                if encoded_len(bytes + row.len()) > room {
                    return None;
                }
            }
            bytes += row.len();
        }
        parts.push(start..self.rows.len());
        Some(parts)
    }
}

/// The columns after the account, user and ARN: action, reason, due,
/// result, new key id, key id.
fn cells(kind: RowKind<'_>) -> [String; 6] {
    let date = |d: &chrono::DateTime<chrono::Utc>| d.format("%Y-%m-%d").to_string();
    match kind {
        RowKind::Action(a) => {
            let (result, _) = action_result(&a.result);
            let new_key = match &a.result {
                ActionResult::Done { new_access_key_id: Some(k) } => k.clone(),
                _ => String::new(),
            };
            let reason = match &a.result {
                ActionResult::Skipped { why } => format!("{} ({why})", reason_text(a.reason)),
                ActionResult::Failed { error } => format!("{} ({error})", reason_text(a.reason)),
                _ => reason_text(a.reason),
            };
            [code(a.action), reason, date(&a.due), result.into(), new_key, a.access_key_id.clone()]
        }
        RowKind::Warning(w) => {
            let severity = code(w.severity);
            let action = w.upcoming.map_or("warning".to_string(), |k| format!("upcoming_{}", code(k)));
            let due = w.due.as_ref().map(date).unwrap_or_default();
            [action, w.message.replace('`', ""), due, severity, String::new(), w.access_key_id.clone()]
        }
        RowKind::Exempt { reason, until } => {
            let until = until.map(|d| d.to_string()).unwrap_or_default();
            ["exempt".into(), reason.into(), until, "exempt".into(), String::new(), String::new()]
        }
        RowKind::Manual { reason } => [
            "manual_action".into(),
            reason.replace('`', ""),
            String::new(),
            "needs_person".into(),
            String::new(),
            String::new(),
        ],
        RowKind::Error(error) => {
            ["user_failed".into(), error.replace('`', ""), String::new(), "failed".into(), String::new(), String::new()]
        }
        RowKind::ExemptionExpired(until) => {
            let what = "the exemption ended: rekey manages the user's keys again".to_string();
            ["exemption_ended".into(), what, until.to_string(), "needs_person".into(), String::new(), String::new()]
        }
    }
}

/// Base64 with a line break every 76 characters, as in the MIME message.
pub fn encoded_len(bytes: usize) -> usize {
    let b64 = bytes.div_ceil(3) * 4;
    b64 + b64.div_ceil(76) * 2
}

/// `run_id` with only letters, digits, `.`, `_` and `-` (a file name in a header).
fn file_safe(run_id: &str) -> String {
    run_id.chars().map(|c| if c.is_ascii_alphanumeric() || "._-".contains(c) { c } else { '_' }).collect()
}
