//! Tests of S3's XML documents, by behaviour.

use super::*;

mod errors;
mod requests;
mod results;
