//! Group keys: each distinct key (a tuple of key-column values, null
//! included) gets a dense group index, in order of first appearance within
//! one [`GroupKeys`]; the output order is decided at the end, by key
//! ([`GroupKeys::sorted`]), so it never depends on that appearance order.
//!
//! Two representations:
//! - one integer key column (Int8..UInt64): the values themselves in a hash
//!   table, the common case and the fastest;
//! - anything else (strings, views, dictionaries, booleans, dates,
//!   timestamps, several columns): arrow-row's order-preserving byte
//!   encoding ([`RowConverter`]), whose byte order is the key order, with
//!   nulls last.

use std::hash::BuildHasher;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Int16Type, Int32Type, Int64Type, Int8Type, UInt16Type, UInt32Type, UInt64Type, UInt8Type,
};
use arrow_array::{Array, ArrayRef, ArrowPrimitiveType, PrimitiveArray};
use arrow_row::{RowConverter, Rows, SortField};
use arrow_schema::{DataType, SortOptions};
use foldhash::fast::FixedState;
use hashbrown::HashTable;

use crate::error::{Error, Result};

/// The key order: ascending, nulls last (as SQL's `ORDER BY` and pandas'
/// `groupby(dropna=False)` sort them).
const ORDER: SortOptions = SortOptions {
    descending: false,
    nulls_first: false,
};

/// The distinct keys seen so far, each with its group index.
#[derive(Debug)]
pub(crate) enum GroupKeys {
    /// One integer key column.
    Integer(IntegerKeys),
    /// Any other key columns, row-encoded.
    Rows(RowKeys),
}

/// Slots of a dense key range: at most this many (16 MiB of `u32`).
const DENSE_SLOTS: i128 = 1 << 22;

/// An empty slot of the dense table.
const EMPTY: u32 = u32::MAX;

/// Distinct values of one integer key column.
///
/// While every key seen lies in a range of at most [`DENSE_SLOTS`] values
/// (keys `0..n`, codes, small ids: the common case), a key's group is found
/// by indexing a table of slots (`dense`), without hashing; a key outside
/// that range moves every key to the hash table for good.
#[derive(Debug)]
pub(crate) struct IntegerKeys {
    data_type: DataType,
    /// The first key of the dense range and a group (or [`EMPTY`]) per key.
    dense: Option<(i128, Vec<u32>)>,
    /// Key value (as `i128`, exact for every integer type) to group.
    table: HashTable<u32>,
    hasher: FixedState,
    /// The key of each group; `None` for the null key.
    keys: Vec<Option<i128>>,
    null_group: Option<u32>,
}

/// Distinct row-encoded keys.
#[derive(Debug)]
pub(crate) struct RowKeys {
    converter: Arc<RowConverter>,
    table: HashTable<u32>,
    hasher: FixedState,
    /// The key of group `i` is row `i`.
    rows: Rows,
}

/// Whether `data_type` takes the integer path.
fn is_integer(data_type: &DataType) -> bool {
    use DataType::*;
    matches!(
        data_type,
        Int8 | Int16 | Int32 | Int64 | UInt8 | UInt16 | UInt32 | UInt64
    )
}

impl GroupKeys {
    /// Empty keys for key columns of `types`, named `names` in errors.
    ///
    /// # Errors
    ///
    /// [`Error::KeyType`] for a type that cannot be a key.
    pub(crate) fn new(names: &[String], types: &[DataType]) -> Result<Self> {
        if let [data_type] = types {
            if is_integer(data_type) {
                return Ok(GroupKeys::Integer(IntegerKeys {
                    data_type: data_type.clone(),
                    dense: Some((0, Vec::new())),
                    table: HashTable::new(),
                    hasher: FixedState::with_seed(0),
                    keys: Vec::new(),
                    null_group: None,
                }));
            }
        }
        let fields: Vec<SortField> = types
            .iter()
            .map(|t| SortField::new_with_options(t.clone(), ORDER))
            .collect();
        for ((name, field), data_type) in names.iter().zip(&fields).zip(types) {
            if !RowConverter::supports_fields(std::slice::from_ref(field)) {
                return Err(Error::KeyType {
                    column: name.clone(),
                    message: format!("a column of type {data_type} cannot be a group key"),
                });
            }
        }
        let converter = RowConverter::new(fields).map_err(|e| Error::KeyType {
            column: names.join(", "),
            message: e.to_string(),
        })?;
        let rows = converter.empty_rows(0, 0);
        Ok(GroupKeys::Rows(RowKeys {
            converter: Arc::new(converter),
            table: HashTable::new(),
            hasher: FixedState::with_seed(0),
            rows,
        }))
    }

    /// Empty keys of the same types (sharing the row encoding, so that the
    /// two merge).
    pub(crate) fn empty_like(&self) -> Self {
        match self {
            GroupKeys::Integer(k) => GroupKeys::Integer(IntegerKeys {
                data_type: k.data_type.clone(),
                dense: Some((0, Vec::new())),
                table: HashTable::new(),
                hasher: k.hasher.clone(),
                keys: Vec::new(),
                null_group: None,
            }),
            GroupKeys::Rows(k) => GroupKeys::Rows(RowKeys {
                converter: Arc::clone(&k.converter),
                table: HashTable::new(),
                hasher: k.hasher.clone(),
                rows: k.converter.empty_rows(0, 0),
            }),
        }
    }

    /// The number of groups.
    pub(crate) fn len(&self) -> usize {
        match self {
            GroupKeys::Integer(k) => k.keys.len(),
            GroupKeys::Rows(k) => k.rows.num_rows(),
        }
    }

    /// Appends the group index of each row of `columns` (the key columns,
    /// of the types these keys were made for) to `ids`, making new groups
    /// for new keys.
    ///
    /// # Errors
    ///
    /// [`Error::Internal`] if the columns are not of the keys' types (the
    /// caller checks them first), [`Error::InvalidArgument`] past `2^32 - 1`
    /// groups.
    pub(crate) fn intern(&mut self, columns: &[ArrayRef], ids: &mut Vec<u32>) -> Result<()> {
        match self {
            GroupKeys::Integer(k) => {
                let [column] = columns else {
                    return Err(Error::Internal(format!(
                        "one integer key column expected, got {}",
                        columns.len()
                    )));
                };
                k.intern(column.as_ref(), ids)
            }
            GroupKeys::Rows(k) => k.intern(columns, ids),
        }
    }

    /// The index in `self` of each group of `other` (keys of the same
    /// types), adding the groups `self` lacks.
    ///
    /// # Errors
    ///
    /// As [`GroupKeys::intern`].
    pub(crate) fn absorb(&mut self, other: &GroupKeys) -> Result<Vec<u32>> {
        let mut ids = Vec::with_capacity(other.len());
        match (self, other) {
            (GroupKeys::Integer(a), GroupKeys::Integer(b)) => {
                for key in &b.keys {
                    ids.push(a.group_of(*key)?);
                }
            }
            (GroupKeys::Rows(a), GroupKeys::Rows(b)) => {
                for row in b.rows.iter() {
                    ids.push(a.group_of(row)?);
                }
            }
            _ => return Err(Error::Internal("merging keys of different kinds".into())),
        }
        Ok(ids)
    }

    /// The group indices in key order (ascending, nulls last).
    pub(crate) fn sorted(&self) -> Vec<u32> {
        let mut order: Vec<u32> = (0..self.len() as u32).collect();
        match self {
            GroupKeys::Integer(k) if k.dense.is_some() => {
                // The dense table is in key order already.
                let slots = k.dense.as_ref().map_or(&[][..], |(_, s)| &s[..]);
                order = slots.iter().copied().filter(|&g| g != EMPTY).collect();
                order.extend(k.null_group);
            }
            GroupKeys::Integer(k) => {
                // `None` (the null key) after every value.
                order.sort_unstable_by_key(|&g| {
                    let key = k.keys[g as usize];
                    (key.is_none(), key)
                });
            }
            GroupKeys::Rows(k) => {
                order.sort_unstable_by(|&a, &b| k.rows.row(a as usize).cmp(&k.rows.row(b as usize)))
            }
        }
        order
    }

    /// The key columns of the groups `order`, in that order.
    ///
    /// # Errors
    ///
    /// [`Error::Internal`] if arrow-row cannot decode its own rows.
    pub(crate) fn columns(&self, order: &[u32]) -> Result<Vec<ArrayRef>> {
        match self {
            GroupKeys::Integer(k) => Ok(vec![k.column(order)]),
            GroupKeys::Rows(k) => k
                .converter
                .convert_rows(order.iter().map(|&g| k.rows.row(g as usize)))
                .map_err(|e| Error::Internal(format!("decoding group keys: {e}"))),
        }
    }
}

/// The next group index, or an error past `u32::MAX` groups.
fn next_group(len: usize) -> Result<u32> {
    u32::try_from(len)
        .ok()
        .filter(|&g| g < u32::MAX)
        .ok_or_else(|| Error::InvalidArgument("more than 2^32 - 1 groups".into()))
}

impl IntegerKeys {
    #[inline]
    fn group_of(&mut self, key: Option<i128>) -> Result<u32> {
        let Some(value) = key else {
            if let Some(g) = self.null_group {
                return Ok(g);
            }
            let g = next_group(self.keys.len())?;
            self.keys.push(None);
            self.null_group = Some(g);
            return Ok(g);
        };
        if self.dense.is_some() {
            self.cover(value, value);
        }
        if let Some((base, slots)) = &mut self.dense {
            let slot = &mut slots[(value - *base) as usize];
            if *slot == EMPTY {
                let g = next_group(self.keys.len())?;
                self.keys.push(Some(value));
                *slot = g;
            }
            return Ok(*slot);
        }
        let hash = self.hasher.hash_one(value);
        let keys = &self.keys;
        if let Some(&g) = self.table.find(hash, |&g| keys[g as usize] == Some(value)) {
            return Ok(g);
        }
        let g = next_group(self.keys.len())?;
        self.keys.push(Some(value));
        let (keys, hasher) = (&self.keys, &self.hasher);
        self.table.insert_unique(hash, g, |&g| {
            hasher.hash_one(keys[g as usize].unwrap_or_default())
        });
        Ok(g)
    }

    /// Widens the dense range to cover `lo..=hi`, or, past [`DENSE_SLOTS`],
    /// moves every key to the hash table.
    fn cover(&mut self, lo: i128, hi: i128) {
        let Some((base, slots)) = &mut self.dense else {
            return;
        };
        let (start, end) = if slots.is_empty() {
            (lo, hi)
        } else {
            (lo.min(*base), hi.max(*base + slots.len() as i128 - 1))
        };
        if start == *base && end < *base + slots.len() as i128 {
            return;
        }
        if end - start < DENSE_SLOTS {
            let mut wider = vec![EMPTY; (end - start + 1) as usize];
            if !slots.is_empty() {
                let at = (*base - start) as usize;
                wider[at..at + slots.len()].copy_from_slice(slots);
            }
            *base = start;
            *slots = wider;
            return;
        }
        self.dense = None;
        let (keys, hasher) = (&self.keys, &self.hasher);
        for (g, key) in keys.iter().enumerate() {
            if let Some(k) = key {
                self.table
                    .insert_unique(hasher.hash_one(*k), g as u32, |&g| {
                        hasher.hash_one(keys[g as usize].unwrap_or_default())
                    });
            }
        }
    }

    fn intern(&mut self, column: &dyn Array, ids: &mut Vec<u32>) -> Result<()> {
        fn typed<T: ArrowPrimitiveType>(
            keys: &mut IntegerKeys,
            array: &PrimitiveArray<T>,
            ids: &mut Vec<u32>,
        ) -> Result<()>
        where
            T::Native: Into<i128> + Ord,
        {
            ids.reserve(array.len());
            let nulls = array.nulls().filter(|n| n.null_count() > 0);
            if keys.dense.is_some() && nulls.is_none() && !array.is_empty() {
                // The batch's range first (a vectorised pass), then one
                // indexed load per row.
                let values = array.values();
                let lo = values.iter().copied().min().map(Into::into).unwrap_or(0);
                let hi = values.iter().copied().max().map(Into::into).unwrap_or(0);
                keys.cover(lo, hi);
                if let Some((base, slots)) = &mut keys.dense {
                    let base = *base;
                    for &x in values.iter() {
                        let slot = &mut slots[(x.into() - base) as usize];
                        if *slot == EMPTY {
                            let g = next_group(keys.keys.len())?;
                            keys.keys.push(Some(x.into()));
                            *slot = g;
                        }
                        ids.push(*slot);
                    }
                    return Ok(());
                }
            }
            match nulls {
                None => {
                    for &x in array.values().iter() {
                        ids.push(keys.group_of(Some(x.into()))?);
                    }
                }
                Some(nulls) => {
                    for (i, &x) in array.values().iter().enumerate() {
                        let key = nulls.is_valid(i).then(|| x.into());
                        ids.push(keys.group_of(key)?);
                    }
                }
            }
            Ok(())
        }
        if column.data_type() != &self.data_type {
            return Err(Error::Internal(format!(
                "an integer key of {} holds {}",
                self.data_type,
                column.data_type()
            )));
        }
        match &self.data_type {
            DataType::Int8 => typed(self, column.as_primitive::<Int8Type>(), ids),
            DataType::Int16 => typed(self, column.as_primitive::<Int16Type>(), ids),
            DataType::Int32 => typed(self, column.as_primitive::<Int32Type>(), ids),
            DataType::Int64 => typed(self, column.as_primitive::<Int64Type>(), ids),
            DataType::UInt8 => typed(self, column.as_primitive::<UInt8Type>(), ids),
            DataType::UInt16 => typed(self, column.as_primitive::<UInt16Type>(), ids),
            DataType::UInt32 => typed(self, column.as_primitive::<UInt32Type>(), ids),
            DataType::UInt64 => typed(self, column.as_primitive::<UInt64Type>(), ids),
            other => Err(Error::Internal(format!("{other} is no integer key"))),
        }
    }

    /// The key column of the groups `order`.
    fn column(&self, order: &[u32]) -> ArrayRef {
        fn build<T: ArrowPrimitiveType>(keys: &[Option<i128>], order: &[u32]) -> ArrayRef
        where
            T::Native: TryFrom<i128> + Default,
        {
            // Every key came from a value of `T`: the conversion is exact.
            let array: PrimitiveArray<T> = order
                .iter()
                .map(|&g| keys[g as usize].map(|k| T::Native::try_from(k).unwrap_or_default()))
                .collect();
            Arc::new(array)
        }
        let keys = &self.keys;
        match &self.data_type {
            DataType::Int8 => build::<Int8Type>(keys, order),
            DataType::Int16 => build::<Int16Type>(keys, order),
            DataType::Int32 => build::<Int32Type>(keys, order),
            DataType::Int64 => build::<Int64Type>(keys, order),
            DataType::UInt8 => build::<UInt8Type>(keys, order),
            DataType::UInt16 => build::<UInt16Type>(keys, order),
            DataType::UInt32 => build::<UInt32Type>(keys, order),
            _ => build::<UInt64Type>(keys, order),
        }
    }
}

impl RowKeys {
    #[inline]
    fn group_of(&mut self, row: arrow_row::Row<'_>) -> Result<u32> {
        let bytes = row.data();
        let hash = self.hasher.hash_one(bytes);
        let rows = &self.rows;
        if let Some(&g) = self
            .table
            .find(hash, |&g| rows.row(g as usize).data() == bytes)
        {
            return Ok(g);
        }
        let g = next_group(self.rows.num_rows())?;
        self.rows.push(row);
        let (rows, hasher) = (&self.rows, &self.hasher);
        self.table
            .insert_unique(hash, g, |&g| hasher.hash_one(rows.row(g as usize).data()));
        Ok(g)
    }

    fn intern(&mut self, columns: &[ArrayRef], ids: &mut Vec<u32>) -> Result<()> {
        let rows = self
            .converter
            .convert_columns(columns)
            .map_err(|e| Error::Internal(format!("encoding group keys: {e}")))?;
        ids.reserve(rows.num_rows());
        for row in rows.iter() {
            ids.push(self.group_of(row)?);
        }
        Ok(())
    }
}
