//! IAM's policy simulator on the wire: SimulatePrincipalPolicy and SimulateCustomPolicy requests →
//! [`keyhaven_iam::simulate`] → `SimulatePolicyResponse`, paged with `Marker` and `MaxItems`.

use keyhaven_core::Core;
use keyhaven_iam::IamError;
use keyhaven_iam::simulate::{
    ContextEntry, EvaluationResult, MatchedStatement, Outcome, Position, PrincipalSimulationInput, SimulationInput,
};
use keyhaven_kernel::context::RequestContext;

use crate::error::{ApiError, iam_error};
use crate::generated::iam::{self as wire, Request};
use crate::iam::Output;

/// IAM's page size when `MaxItems` is absent.
const DEFAULT_MAX_ITEMS: usize = 100;

/// The common members of both requests, which the generated shapes spell alike.
macro_rules! simulation_in {
    ($input:expr) => {
        SimulationInput {
            policy_input_list: $input.policy_input_list.clone().unwrap_or_default(),
            permissions_boundary_policy_input_list: $input
                .permissions_boundary_policy_input_list
                .clone()
                .unwrap_or_default(),
            action_names: $input.action_names.clone().unwrap_or_default(),
            resource_arns: $input.resource_arns.clone().unwrap_or_default(),
            resource_policy: $input.resource_policy.clone(),
            resource_owner: $input.resource_owner.clone(),
            caller_arn: $input.caller_arn.clone(),
            context_entries: context_in($input.context_entries.as_deref()),
        }
    };
}

/// Runs the simulator's actions; `None` for every other IAM action.
pub fn execute(core: &Core, ctx: &RequestContext, request: &Request) -> Option<Result<Output, ApiError>> {
    let (results, max_items, marker) = match request {
        Request::SimulatePrincipalPolicy(i) => {
            let input = PrincipalSimulationInput {
                policy_source_arn: i.policy_source_arn.clone().unwrap_or_default(),
                simulation: simulation_in!(i),
            };
            (
                core.identity.simulate_principal_policy(ctx, &input),
                i.max_items,
                &i.marker,
            )
        }
        Request::SimulateCustomPolicy(i) => (
            core.identity.simulate_custom_policy(ctx, &simulation_in!(i)),
            i.max_items,
            &i.marker,
        ),
        _ => return None,
    };
    Some(
        results
            .map_err(iam_error)
            .and_then(|results| respond(results, max_items, marker.as_deref())),
    )
}

/// The `ContextKeyType` is the model's enum, already checked by decoding; the core reads values
/// as each condition operator needs, so only names and values cross over.
fn context_in(entries: Option<&[wire::ContextEntry]>) -> Vec<ContextEntry> {
    entries
        .unwrap_or_default()
        .iter()
        .map(|e| ContextEntry {
            name: e.context_key_name.clone().unwrap_or_default(),
            values: e.context_key_values.clone().unwrap_or_default(),
        })
        .collect()
}

fn respond(results: Vec<EvaluationResult>, max_items: Option<i32>, marker: Option<&str>) -> Result<Output, ApiError> {
    let size = max_items
        .and_then(|n| usize::try_from(n).ok())
        .filter(|n| *n > 0)
        .unwrap_or(DEFAULT_MAX_ITEMS);
    let page = keyhaven_kernel::paging::by_offset(&results, size, marker).map_err(|e| iam_error(IamError::from(e)))?;
    Ok(Some(Box::new(wire::SimulatePolicyResponse {
        evaluation_results: Some(page.items.iter().map(result_out).collect()),
        is_truncated: Some(page.next_marker.is_some()),
        marker: page.next_marker,
    })))
}

fn result_out(result: &EvaluationResult) -> wire::EvaluationResult {
    let outcome = &result.outcome;
    let resource_specific = result
        .resource_specific_results
        .iter()
        .map(|r| wire::ResourceSpecificResult {
            eval_resource_name: Some(r.resource_name.clone()),
            eval_resource_decision: Some(r.outcome.decision.as_str().into()),
            matched_statements: Some(statements_out(&r.outcome)),
            missing_context_values: Some(r.outcome.missing_context_values.clone()),
            permissions_boundary_decision_detail: boundary_out(&r.outcome),
            ..Default::default()
        })
        .collect::<Vec<_>>();
    wire::EvaluationResult {
        eval_action_name: Some(result.action_name.clone()),
        eval_resource_name: Some(result.resource_name.clone()),
        eval_decision: Some(outcome.decision.as_str().into()),
        matched_statements: Some(statements_out(outcome)),
        missing_context_values: Some(outcome.missing_context_values.clone()),
        permissions_boundary_decision_detail: boundary_out(outcome),
        resource_specific_results: (!resource_specific.is_empty()).then_some(resource_specific),
        ..Default::default()
    }
}

fn statements_out(outcome: &Outcome) -> Vec<wire::Statement> {
    outcome.matched_statements.iter().map(statement_out).collect()
}

fn statement_out(statement: &MatchedStatement) -> wire::Statement {
    wire::Statement {
        source_policy_id: Some(statement.source_policy_id.clone()),
        source_policy_type: Some(statement.source_policy_type.as_str().into()),
        start_position: statement.span.map(|(start, _)| position_out(start)),
        end_position: statement.span.map(|(_, end)| position_out(end)),
    }
}

fn position_out(position: Position) -> wire::Position {
    wire::Position {
        line: Some(i32::try_from(position.line).unwrap_or(i32::MAX)),
        column: Some(i32::try_from(position.column).unwrap_or(i32::MAX)),
    }
}

fn boundary_out(outcome: &Outcome) -> Option<wire::PermissionsBoundaryDecisionDetail> {
    outcome
        .allowed_by_permissions_boundary
        .map(|allowed| wire::PermissionsBoundaryDecisionDetail {
            allowed_by_permissions_boundary: Some(allowed),
        })
}
