//! The integration suite: one binary, a fake MS-WSUSSS upstream on loopback, the sync run and
//! the daemon in-process (or as a child process where a kill -9 is the point).

mod baselines;
mod bundle;
mod campaigns;
mod canonical;
mod catalog_image;
mod cli;
mod cli_catalog;
mod cli_output;
mod client;
mod compliance;
mod content;
mod daemon;
mod dashboard;
mod explain;
mod harness;
mod hostile;
mod https;
mod hub;
mod layout;
mod oracle;
mod paging;
mod properties;
mod proxy;
mod replay;
mod report_bounds;
mod sync;
mod sync_interrupted;
mod tls;
