//! [`thv_ports::Deployments`] adapters: which MCP servers run where.
//!
//! - [`kubernetes`]: ToolHive `MCPServer` resources (kube-rs).

pub mod kubernetes;
