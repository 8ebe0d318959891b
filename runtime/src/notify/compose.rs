//! One digest as the emails that carry it: the digest itself, with the full
//! report attached when wanted ([`attachment::wanted`]); when that message
//! would pass SES's size limit, the report is split across up to
//! [`attachment::MAX_PARTS`] messages (the digest carries part 1), and
//! beyond that it is left out and the digest points at the run summary in
//! the logs. The digest's body says which.

use super::attachment::{self, ReportCsv, MAX_PARTS};
use super::mime;
use super::ports::Email;
use super::render::{RenderedEmail, Renderer, TemplateError};
use crate::messages::Digest;

/// The emails of one digest from `from`, each within `limit` bytes as a
/// raw MIME message when it has an attachment (SES's limit:
/// [`attachment::SES_MAX_MESSAGE_BYTES`]).
pub fn emails(renderer: &Renderer, from: &str, digest: &Digest, limit: usize) -> Result<Vec<Email>, TemplateError> {
    let mut ctx = renderer.context(digest);
    let email = |r: RenderedEmail| Email {
        from: from.to_string(),
        to: digest.recipient.clone(),
        subject: r.subject,
        html: r.html,
        text: r.text,
        attachments: Vec::new(),
    };
    if !attachment::wanted(digest, renderer.inline_account_limit()) {
        return Ok(vec![email(renderer.render_context(&ctx)?)]);
    }
    let csv = ReportCsv::of(digest);
    let rows = csv.rows.len();
    ctx.attach(&csv.name, rows, "attached", 1);
    let mut whole = email(renderer.render_context(&ctx)?);
    whole.attachments.push(csv.attachment(&csv.name, 0..rows));
    if mime::message(&whole).len() <= limit {
        return Ok(vec![whole]);
    }
    whole.attachments.clear();
    let body = mime::message(&whole).len();
    match csv.split(body, limit).filter(|parts| parts.len() <= MAX_PARTS) {
        Some(parts) => {
            ctx.attach(&csv.name, rows, "split", parts.len());
            let first = email(renderer.render_context(&ctx)?);
            let n = parts.len();
            let mut out = Vec::with_capacity(n);
            for (i, range) in parts.into_iter().enumerate() {
                let name = csv.part_name(i + 1, n);
                let mut part = if i == 0 { first.clone() } else { part_email(&first, digest, &name, i + 1, n) };
                part.attachments.push(csv.attachment(&name, range));
                out.push(part);
            }
            tracing::info!(run_id = %digest.run_id, parts = n, rows, "the full report is split across messages");
            Ok(out)
        }
        None => {
            ctx.attach(&csv.name, rows, "pointer", 0);
            tracing::warn!(run_id = %digest.run_id, rows, "the full report is too large to email; the digest points at the logs");
            Ok(vec![email(renderer.render_context(&ctx)?)])
        }
    }
}

/// A further message carrying part `k` of `n` of the report.
fn part_email(first: &Email, digest: &Digest, name: &str, k: usize, n: usize) -> Email {
    let text = format!(
        "Part {k} of {n} of the full report of rekey run {} (the digest itself is in part 1's message). \
         The attached {name} has one row per key decision.\n",
        digest.run_id
    );
    let html = format!("<!DOCTYPE html><html><body><p>{}</p></body></html>", tera::escape_html(&text));
    Email {
        subject: format!("{} (report part {k} of {n})", first.subject),
        html,
        text,
        attachments: Vec::new(),
        ..first.clone()
    }
}
