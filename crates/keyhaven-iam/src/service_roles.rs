//! IAM as the kernel's [`RoleService`]: sessions of customers' roles for services that act through them
//! (CloudTrail delivering to CloudWatch Logs), issued by AssumeRole with the service as the caller.

use keyhaven_kernel::context::{Principal, RequestContext};
use keyhaven_kernel::on_behalf::{DeliveryFailure, RoleService};

use crate::sts::AssumeRoleInput;
use crate::{IamError, Identity};

impl RoleService for Identity {
    fn service_session(
        &self,
        ctx: &RequestContext,
        role_arn: &str,
        session_name: &str,
        keys: &[(String, Vec<String>)],
    ) -> Result<Principal, DeliveryFailure> {
        let input = AssumeRoleInput {
            service_keys: keys.to_vec(),
            role_arn: role_arn.to_string(),
            session_name: session_name.to_string(),
            ..Default::default()
        };
        match self.assume_role(ctx, input) {
            Ok(issued) => Ok(issued.principal),
            Err(IamError::AccessDenied(message)) => Err(DeliveryFailure::AccessDenied(message)),
            Err(IamError::NotFound(message)) => Err(DeliveryFailure::NotFound(message)),
            Err(IamError::Unavailable) => Err(DeliveryFailure::Unavailable),
            Err(IamError::Internal(detail)) => Err(DeliveryFailure::Internal(detail)),
            Err(other) => Err(DeliveryFailure::AccessDenied(other.to_string())),
        }
    }
}
