//! The operator's commands besides `serve`, as library code the `switchyard` binary calls:
//! `route` asks routing scripts about payments without touching the running daemon.

pub mod route;
