//! The VPC-endpoints stack (only when `vpc.enabled`): the functions' security
//! group (egress TCP 443 only), exported for the main stack to import; an
//! endpoint security group open on 443 to that group only; one interface
//! endpoint (private DNS) per configured service and an S3 gateway endpoint
//! on the configured route tables.

use rekey_config::{Config, Endpoint, StackId};
use rekey_synth::cfn::{Egress, Export, Expr, Ingress, Output, SecurityGroup, Template, VpcEndpoint};

/// What the stack is.
pub const DESCRIPTION: &str = "rekey VPC endpoints: security groups and endpoints for the rekey functions in a VPC";

/// Name of the export holding the functions' security group id: the stack
/// name plus a fixed suffix, so the main stack imports it without a parameter.
pub fn functions_security_group_export(config: &Config) -> String {
    format!("{}-FunctionsSecurityGroupId", config.names().stack(StackId::VpcEndpoints))
}

fn https_egress_anywhere() -> Egress {
    Egress {
        description: "HTTPS to AWS APIs (VPC endpoints, or IAM and Organizations through the VPC's NAT)".to_string(),
        ip_protocol: "tcp".to_string(),
        from_port: 443,
        to_port: 443,
        cidr_ip: Some("0.0.0.0/0".to_string()),
        destination_security_group_id: None,
    }
}

/// Logical id of an endpoint (`StsEndpoint`).
fn logical_id(endpoint: Endpoint) -> String {
    let service = format!("{endpoint:?}");
    format!("{service}Endpoint")
}

pub fn template(config: &Config) -> (&'static str, Template) {
    let vpc = &config.vpc;
    let vpc_id: Expr = vpc.vpc_id.as_ref().map(|v| v.to_string()).unwrap_or_default().into();
    let mut t = Template::new(DESCRIPTION);
    t.add(
        "FunctionsSecurityGroup",
        SecurityGroup {
            group_description: "rekey functions: outbound HTTPS only".to_string(),
            vpc_id: vpc_id.clone(),
            security_group_ingress: Vec::new(),
            security_group_egress: vec![https_egress_anywhere()],
        },
    );
    t.add(
        "EndpointsSecurityGroup",
        SecurityGroup {
            group_description: "rekey VPC endpoints: HTTPS from the rekey functions only".to_string(),
            vpc_id: vpc_id.clone(),
            security_group_ingress: vec![Ingress {
                description: "HTTPS from the rekey functions".to_string(),
                ip_protocol: "tcp".to_string(),
                from_port: 443,
                to_port: 443,
                source_security_group_id: Expr::get_att("FunctionsSecurityGroup", "GroupId"),
            }],
            // An endpoint never opens connections; this rule replaces EC2's
            // default allow-all egress with one that matches nothing (as the
            // AWS CDK does for `allowAllOutbound: false`).
            security_group_egress: vec![Egress {
                description: "No outbound traffic".to_string(),
                ip_protocol: "icmp".to_string(),
                from_port: 252,
                to_port: 86,
                cidr_ip: Some("255.255.255.255/32".to_string()),
                destination_security_group_id: None,
            }],
        },
    );
    let subnets: Vec<Expr> = vpc.subnet_ids.iter().map(|s| s.to_string().into()).collect();
    for endpoint in Endpoint::ALL.into_iter().filter(|e| vpc.endpoints.contains(e)) {
        let service_name = Expr::sub(format!("com.amazonaws.${{AWS::Region}}.{}", endpoint.service_name()));
        let resource = if endpoint == Endpoint::S3 {
            VpcEndpoint {
                vpc_endpoint_type: "Gateway".to_string(),
                service_name,
                vpc_id: vpc_id.clone(),
                subnet_ids: Vec::new(),
                security_group_ids: Vec::new(),
                private_dns_enabled: None,
                route_table_ids: vpc.route_table_ids.iter().map(|r| r.to_string().into()).collect(),
            }
        } else {
            VpcEndpoint {
                vpc_endpoint_type: "Interface".to_string(),
                service_name,
                vpc_id: vpc_id.clone(),
                subnet_ids: subnets.clone(),
                security_group_ids: vec![Expr::get_att("EndpointsSecurityGroup", "GroupId")],
                private_dns_enabled: Some(true),
                route_table_ids: Vec::new(),
            }
        };
        t.add(&logical_id(endpoint), resource);
    }
    t.add_output(
        "FunctionsSecurityGroupId",
        Output {
            export: Some(Export { name: functions_security_group_export(config).into() }),
            ..Output::new(
                "Security group of the rekey functions (imported by the main stack)",
                Expr::get_att("FunctionsSecurityGroup", "GroupId"),
            )
        },
    );
    (DESCRIPTION, t)
}
