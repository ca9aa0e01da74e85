//! `gatehouse mask test`: show what masking would do to a text, and why — which detector
//! found what, with which strategy, and the masked result — using a connection's masking
//! configuration (or the built-in defaults).

use crate::cli::args::{MaskTestArgs, OutputFormat};
use crate::config::setup::Setup;
use anyhow::{Context, Result, bail};
use gatehouse_mask::{ColumnMask, MaskConfig, MaskCounts, Masked};
use std::path::Path;
use std::process::ExitCode;

pub fn test(
    config: Option<&Path>,
    data_dir: Option<&Path>,
    args: MaskTestArgs,
) -> Result<ExitCode> {
    let setup = Setup::load(config, data_dir)?;
    let text = match (&args.text, &args.file) {
        (Some(text), None) => text.clone(),
        (None, Some(path)) => std::fs::read_to_string(path)
            .with_context(|| format!("cannot read `{}` (it must be UTF-8 text)", path.display()))?,
        _ => bail!("give the text to test with --text \"...\" or --file FILE"),
    };
    let (source, mask_config) = match &args.connection {
        Some(name) => {
            let connection = setup
                .config
                .connections
                .iter()
                .find(|c| &c.name == name)
                .with_context(|| format!("no connection `{name}` in the configuration"))?;
            match &connection.masking {
                Some(masking) => (format!("connection `{name}`"), masking.clone()),
                None => bail!(
                    "connection `{name}` has no [connections.masking]: nothing would be masked"
                ),
            }
        }
        None => ("the built-in detectors".to_owned(), MaskConfig::default()),
    };
    let masker = setup.masker(&mask_config)?;
    let findings = masker.explain(&text);
    let mut counts = MaskCounts::default();
    let masked = masker.mask_value(&ColumnMask::Scan, &text, &mut counts);
    let masked_text = match &masked {
        Masked::Unchanged(text) => Some(*text),
        Masked::Replaced(text) => Some(text.as_str()),
        Masked::Null => None,
    };
    match args.output.output {
        OutputFormat::Json => {
            let report = serde_json::json!({
                "rules": source,
                "findings": findings,
                "masked": masked_text,
                "changed": !matches!(masked, Masked::Unchanged(_)),
            });
            println!("{report}");
        }
        OutputFormat::Text => {
            if findings.is_empty() {
                println!("nothing to mask ({source}): the text passes unchanged");
            } else {
                println!("{} finding(s) with {source}:", findings.len());
                for finding in &findings {
                    let found = text.get(finding.start..finding.end).unwrap_or_default();
                    println!(
                        "  {:<18} bytes {}..{}  {:?} → {}  ({})",
                        finding.detector,
                        finding.start,
                        finding.end,
                        found,
                        finding
                            .replacement
                            .as_deref()
                            .unwrap_or("NULL (whole value)"),
                        strategy_name(&finding.strategy),
                    );
                }
                match masked_text {
                    Some(masked) => println!("masked: {masked}"),
                    None => println!("masked: NULL (a null strategy applies to the whole value)"),
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn strategy_name(strategy: &gatehouse_mask::Strategy) -> String {
    serde_json::to_value(strategy)
        .map(|v| match v {
            serde_json::Value::String(s) => s,
            other => other.to_string(),
        })
        .unwrap_or_default()
}
