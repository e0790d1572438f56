//! A minimal sensor driver shared by the agent's tests.

use cairn_agent::{DriverError, SensorDriver};
use cairn_proto::v1::{SensorReading, SensorResource};

/// A sensor that reports an empty reading at whatever time it is asked.
#[derive(Debug)]
pub struct Thermo;

impl SensorDriver for Thermo {
    fn resource(&mut self) -> SensorResource {
        SensorResource {
            model: "test-th".into(),
            readings_per_hour: 60,
            ..SensorResource::default()
        }
    }
    fn sample(&mut self, now_ms: u64) -> Result<SensorReading, DriverError> {
        Ok(SensorReading {
            sampled_at_ms: now_ms,
            measurements: vec![],
        })
    }
}
