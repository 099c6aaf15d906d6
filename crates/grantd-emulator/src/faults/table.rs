//! The active faults and the rule that picks one for a call.

use super::Fault;
use crate::Operation;

/// The active faults, in the order they were added.
#[derive(Debug, Default)]
pub(crate) struct FaultTable {
    faults: Vec<Fault>,
}

impl FaultTable {
    pub(crate) fn extend(&mut self, faults: impl IntoIterator<Item = Fault>) {
        self.faults.extend(faults);
    }

    pub(crate) fn clear(&mut self) {
        self.faults.clear();
    }

    pub(crate) fn list(&self) -> &[Fault] {
        &self.faults
    }

    /// Spends one use of the first fault that applies and returns it; a
    /// fault whose uses run out is dropped.
    pub(crate) fn take(&mut self, operation: Operation, target: Option<&str>) -> Option<Fault> {
        let index = self
            .faults
            .iter()
            .position(|f| f.applies(operation, target))?;
        let fault = &mut self.faults[index];
        let taken = fault.clone();
        match &mut fault.times {
            Some(1) => {
                self.faults.remove(index);
            }
            Some(n) => *n -= 1,
            None => {}
        }
        Some(taken)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faults::Effect;
    use crate::faults::read::tests::fault;
    use serde_json::json;

    #[test]
    fn table_spends_uses_and_drops_exhausted_faults() {
        let mut table = FaultTable::default();
        table.extend([
            fault(json!({"operation": "GetDataAccess", "target_prefix": "s3://b/A", "status": 500, "code": "InternalError", "times": 1})).unwrap(),
            fault(json!({"operation": "*", "status": 503, "code": "SlowDown", "times": 2})).unwrap(),
        ]);
        let first = table
            .take(Operation::GetDataAccess, Some("s3://b/A/x"))
            .unwrap();
        assert!(matches!(first.effect, Effect::Error { status: 500, .. }));
        let second = table
            .take(Operation::GetDataAccess, Some("s3://b/A/x"))
            .unwrap();
        assert!(matches!(second.effect, Effect::Error { status: 503, .. }));
        assert!(table.take(Operation::GetCallerIdentity, None).is_some());
        assert!(table.take(Operation::GetCallerIdentity, None).is_none());
        assert!(table.list().is_empty());
    }
}
