//! EC2: security groups and VPC endpoints.

use super::Expr;
use serde::Serialize;

/// `AWS::EC2::SecurityGroup`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SecurityGroup {
    /// Description (immutable in EC2).
    pub group_description: String,
    /// The VPC.
    pub vpc_id: Expr,
    /// Inbound rules.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub security_group_ingress: Vec<Ingress>,
    /// Outbound rules; when set, they replace EC2's default allow-all egress.
    pub security_group_egress: Vec<Egress>,
}

/// One inbound rule.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Ingress {
    /// Why it exists.
    pub description: String,
    /// `tcp`.
    pub ip_protocol: String,
    /// First port.
    pub from_port: u16,
    /// Last port.
    pub to_port: u16,
    /// Source security group.
    pub source_security_group_id: Expr,
}

/// One outbound rule.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Egress {
    /// Why it exists.
    pub description: String,
    /// `tcp`.
    pub ip_protocol: String,
    /// First port.
    pub from_port: u16,
    /// Last port.
    pub to_port: u16,
    /// Destination CIDR.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cidr_ip: Option<String>,
    /// Destination security group.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destination_security_group_id: Option<Expr>,
}

/// `AWS::EC2::VPCEndpoint`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct VpcEndpoint {
    /// `Interface` or `Gateway`.
    pub vpc_endpoint_type: String,
    /// `com.amazonaws.<region>.<service>`.
    pub service_name: Expr,
    /// The VPC.
    pub vpc_id: Expr,
    /// Interface endpoints: subnets.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub subnet_ids: Vec<Expr>,
    /// Interface endpoints: security groups.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub security_group_ids: Vec<Expr>,
    /// Interface endpoints: private DNS names.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub private_dns_enabled: Option<bool>,
    /// Gateway endpoints: route tables.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub route_table_ids: Vec<Expr>,
}
