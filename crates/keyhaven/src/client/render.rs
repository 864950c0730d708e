//! `keyhaven render`: a template with CloudFormation dynamic references (`{{resolve:ssm:...}}`,
//! `{{resolve:ssm-secure:...}}`, `{{resolve:secretsmanager:...}}`) written out with their values, resolved with the
//! caller's credentials. Output files are private to their owner and appear only once complete.

use std::collections::HashMap;
use std::io::Read;
use std::process::ExitCode;

use clap::Args;
use keyhaven_client::secrets::reference::dynamic_references;
use keyhaven_client::secrets::{Reference, Resolver};
use zeroize::Zeroizing;

use super::output::{End, write_complete};
use super::{block_on, current_thread, exit_with};

/// `keyhaven render` options.
#[derive(Debug, Args)]
pub struct RenderArgs {
    /// The template: a file, or `-` for standard input.
    #[arg(short = 'i', long, default_value = "-")]
    input: String,
    /// Where the result goes: a file, or `-` for standard output.
    #[arg(short = 'o', long, default_value = "-")]
    output: String,
    /// The named profile of the AWS configuration files to take credentials and Region from.
    #[arg(long)]
    profile: Option<String>,
}

fn read_template(input: &str) -> Result<String, String> {
    let mut text = String::new();
    let result = if input == "-" {
        std::io::stdin().read_to_string(&mut text)
    } else {
        std::fs::File::open(input).and_then(|mut f| f.read_to_string(&mut text))
    };
    result.map_err(|e| format!("{input}: {e}"))?;
    Ok(text)
}

async fn rendered(args: &RenderArgs, template: &str) -> Result<Zeroizing<String>, String> {
    let references = dynamic_references(template).map_err(|e| e.to_string())?;
    let resolver = Resolver::from_environment(args.profile.as_deref()).await;
    let mut values: HashMap<&Reference, Zeroizing<String>> = HashMap::new();
    for (_, reference) in &references {
        if !values.contains_key(reference) {
            let value = resolver.value(reference).await.map_err(|e| e.to_string())?;
            values.insert(reference, value);
        }
    }
    let mut out = Zeroizing::new(String::with_capacity(template.len()));
    let mut at = 0;
    for (range, reference) in &references {
        out.push_str(&template[at..range.start]);
        out.push_str(values.get(reference).map(|v| v.as_str()).unwrap_or_default());
        at = range.end;
    }
    out.push_str(&template[at..]);
    Ok(out)
}

fn render(args: &RenderArgs) -> Result<(), String> {
    let template = read_template(&args.input)?;
    let text = block_on(current_thread(), rendered(args, &template))?;
    write_complete(&End::of(&args.output), text.as_bytes())
}

pub fn run(args: RenderArgs) -> ExitCode {
    exit_with("render", render(&args))
}
