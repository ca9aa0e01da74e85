//! COM_STMT_EXECUTE: which prepared statement to run and the values of its parameters (a NULL
//! bitmap, the parameter types when the client (re)binds them, then each value in its type's
//! binary form), decoded so that the values can be audited and checked.

use crate::response::{
    ColumnType, Value, is_null, read_binary_value, set_null, write_binary_value,
};
use crate::{WireError, cursor};

const WHAT: &str = "execute parameters";
/// The flag byte of a parameter type that marks it unsigned.
const UNSIGNED_PARAMETER: u8 = 0x80;

/// A COM_STMT_EXECUTE's fixed fields; `rest` holds the parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StmtExecute<'a> {
    pub statement: u32,
    /// The cursor flags.
    pub flags: u8,
    /// Always 1.
    pub iterations: u32,
    /// The parameters, for [`parse_execute_parameters`].
    pub rest: &'a [u8],
}

/// The type a client bound a parameter with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParameterType {
    pub column_type: ColumnType,
    pub unsigned: bool,
}

/// The decoded parameters of an execute.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecuteParameters {
    /// The types in effect: sent with this execute, or those of the previous one.
    pub types: Vec<ParameterType>,
    pub values: Vec<Value>,
    /// Whether this execute sent the types.
    pub new_params_bound: bool,
}

/// Decodes the parameters of an execute of a statement with `parameter_count` parameters;
/// `previous_types` are the types of the statement's previous execute, used when this one does
/// not send them.
pub fn parse_execute_parameters(
    rest: &[u8],
    parameter_count: usize,
    previous_types: Option<&[ParameterType]>,
) -> Result<ExecuteParameters, WireError> {
    parse_execute_parameters_after_long_data(rest, parameter_count, previous_types, &[])
}

/// As [`parse_execute_parameters`], for a statement some of whose parameters were sent with
/// COM_STMT_SEND_LONG_DATA (`sent_long_data[i]` for parameter `i`): their values are not in
/// the execute message, and are `Value::Null` here.
pub fn parse_execute_parameters_after_long_data(
    rest: &[u8],
    parameter_count: usize,
    previous_types: Option<&[ParameterType]>,
    sent_long_data: &[bool],
) -> Result<ExecuteParameters, WireError> {
    let mut input = rest;
    if parameter_count == 0 {
        return Ok(ExecuteParameters {
            types: Vec::new(),
            values: Vec::new(),
            new_params_bound: false,
        });
    }
    let bitmap = cursor::take(&mut input, parameter_count.div_ceil(8), WHAT)?;
    let new_params_bound = cursor::u8(&mut input, WHAT)? == 1;
    let types = if new_params_bound {
        let mut types = Vec::with_capacity(parameter_count.min(input.len() / 2));
        for _ in 0..parameter_count {
            let [code, flags] = cursor::array(&mut input, WHAT)?;
            types.push(ParameterType {
                column_type: ColumnType::from_u8(code),
                unsigned: flags & UNSIGNED_PARAMETER != 0,
            });
        }
        types
    } else {
        match previous_types {
            Some(types) if types.len() == parameter_count => types.to_vec(),
            _ => {
                return Err(WireError::malformed(
                    WHAT,
                    "parameter types neither sent nor bound before",
                ));
            }
        }
    };
    let mut values = Vec::with_capacity(parameter_count);
    for (index, parameter) in types.iter().enumerate() {
        let long_data = sent_long_data.get(index).copied().unwrap_or(false);
        if is_null(bitmap, index) || long_data {
            values.push(Value::Null);
        } else {
            values.push(read_binary_value(
                &mut input,
                parameter.column_type,
                parameter.unsigned,
            )?);
        }
    }
    cursor::finish(input, WHAT)?;
    Ok(ExecuteParameters {
        types,
        values,
        new_params_bound,
    })
}

impl ExecuteParameters {
    /// The parameter bytes of an execute (the `rest` of [`StmtExecute`]); `Malformed` if the
    /// counts differ or a value does not fit its type.
    pub fn encode(&self) -> Result<Vec<u8>, WireError> {
        if self.types.len() != self.values.len() {
            return Err(WireError::malformed(
                WHAT,
                format!(
                    "{} values for {} types",
                    self.values.len(),
                    self.types.len()
                ),
            ));
        }
        if self.values.is_empty() {
            return Ok(Vec::new());
        }
        let mut bitmap = vec![0u8; self.values.len().div_ceil(8)];
        let mut body = Vec::new();
        for (index, (value, parameter)) in self.values.iter().zip(&self.types).enumerate() {
            if *value == Value::Null {
                set_null(&mut bitmap, index);
            } else {
                write_binary_value(&mut body, value, parameter.column_type, parameter.unsigned)?;
            }
        }
        let mut out = bitmap;
        out.push(u8::from(self.new_params_bound));
        if self.new_params_bound {
            for parameter in &self.types {
                let flags = if parameter.unsigned {
                    UNSIGNED_PARAMETER
                } else {
                    0
                };
                out.extend_from_slice(&[parameter.column_type.to_u8(), flags]);
            }
        }
        out.extend_from_slice(&body);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    fn parameter(column_type: ColumnType, unsigned: bool) -> ParameterType {
        ParameterType {
            column_type,
            unsigned,
        }
    }

    fn sample() -> ExecuteParameters {
        ExecuteParameters {
            types: vec![
                parameter(ColumnType::LongLong, false),
                parameter(ColumnType::VarString, false),
                parameter(ColumnType::Double, false),
                parameter(ColumnType::Tiny, true),
                parameter(ColumnType::DateTime, false),
                parameter(ColumnType::Null, false),
                parameter(ColumnType::Blob, false),
                parameter(ColumnType::Short, false),
                parameter(ColumnType::Long, true),
            ],
            values: vec![
                Value::Int(-42),
                Value::Bytes(b"it's".to_vec()),
                Value::Double(2.5),
                Value::UInt(200),
                Value::Date {
                    year: 2024,
                    month: 1,
                    day: 2,
                    hour: 3,
                    minute: 4,
                    second: 5,
                    micros: 6,
                },
                Value::Null,
                Value::Null,
                Value::Int(-2),
                Value::UInt(4_000_000_000),
            ],
            new_params_bound: true,
        }
    }

    #[test]
    fn round_trip_with_types_sent_and_then_remembered() {
        let sent = sample();
        let bytes = sent.encode().unwrap();
        assert_eq!(parse_execute_parameters(&bytes, 9, None), Ok(sent.clone()));
        let again = ExecuteParameters {
            new_params_bound: false,
            ..sent.clone()
        };
        let bytes = again.encode().unwrap();
        assert_eq!(
            parse_execute_parameters(&bytes, 9, Some(&sent.types)),
            Ok(again)
        );
        assert!(matches!(
            parse_execute_parameters(&bytes, 9, None),
            Err(WireError::Malformed { .. })
        ));
    }

    #[test]
    fn long_data_parameters_are_not_in_the_message() {
        let types = vec![
            parameter(ColumnType::Blob, false),
            parameter(ColumnType::Long, false),
        ];
        let sent = ExecuteParameters {
            types: types.clone(),
            values: vec![Value::Null, Value::Int(7)],
            new_params_bound: true,
        };
        let mut bytes = sent.encode().unwrap();
        // The client leaves the long-data parameter's NULL bit clear.
        bytes[0] = 0;
        assert_eq!(
            parse_execute_parameters_after_long_data(&bytes, 2, None, &[true, false]),
            Ok(sent)
        );
        assert!(parse_execute_parameters(&bytes, 2, None).is_err());
    }

    #[test]
    fn no_parameters_and_truncation() {
        assert_eq!(
            parse_execute_parameters(&[], 0, None).map(|p| p.values.len()),
            Ok(0)
        );
        let bytes = sample().encode().unwrap();
        for cut in 0..bytes.len() {
            assert!(
                matches!(
                    parse_execute_parameters(&bytes[..cut], 9, None),
                    Err(WireError::Truncated { .. })
                ),
                "cut at {cut}"
            );
        }
    }
}
