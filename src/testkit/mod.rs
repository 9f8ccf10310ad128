//! Test and benchmark support: a synthetic catalog generator and a fake MS-WSUSSS upstream.
