//! The operator's commands besides `serve`, as library code the `switchyard` binary calls:
//! `route` asks routing scripts about payments without touching the running daemon; `plugin`
//! tests a connector plugin against its fixtures.

pub mod plugin;
pub mod route;
