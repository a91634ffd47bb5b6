//! Group keys: each distinct key (a tuple of key-column values, null
//! included) gets a dense group index, in order of first appearance within
//! one [`GroupKeys`]; the output order is decided at the end, by key
//! ([`GroupKeys::sorted`]), so it never depends on that appearance order.
//!
//! Two representations:
//! - one integer key column (Int8..UInt64): the values themselves in a hash
//!   table, the common case and the fastest;
//! - one string key column (utf8, large_utf8, utf8_view, or a dictionary
//!   of one of them): the strings' bytes in one arena and a hash table of
//!   them (a dictionary's values are looked up once per batch, not per
//!   row);
//! - anything else (booleans, dates, timestamps, dictionaries of other
//!   types, several columns): arrow-row's order-preserving byte encoding
//!   ([`RowConverter`]), whose byte order is the key order, with nulls
//!   last.

use std::hash::BuildHasher;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    ArrowDictionaryKeyType, Int16Type, Int32Type, Int64Type, Int8Type, UInt16Type, UInt32Type,
    UInt64Type, UInt8Type,
};
use arrow_array::{
    Array, ArrayRef, ArrowPrimitiveType, DictionaryArray, LargeStringArray, PrimitiveArray,
    StringArray, StringViewArray,
};
use arrow_buffer::{ArrowNativeType, NullBuffer};
use arrow_row::{RowConverter, Rows, SortField};
use arrow_schema::{DataType, SortOptions};
use foldhash::fast::FixedState;
use hashbrown::HashTable;

use crate::error::{Error, Result};
use crate::kernel::arch::prefetch_line;

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
    /// One string key column.
    Strings(StringKeys),
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

/// Distinct strings of one key column (or of a dictionary of strings).
#[derive(Debug)]
pub(crate) struct StringKeys {
    /// The key column's type; the result's keys are of `output`.
    data_type: DataType,
    output: DataType,
    /// The bytes of every group's string, one after the other: group `g`'s
    /// are `bytes[ends[g - 1]..ends[g]]` (the null group's are empty).
    bytes: Vec<u8>,
    ends: Vec<usize>,
    /// Strings of up to 16 bytes, held in the table itself: a lookup reads
    /// one entry, not the arena.
    short: HashTable<ShortKey>,
    /// Longer strings' groups, hashed by their bytes in the arena.
    table: HashTable<u32>,
    hasher: FixedState,
    null_group: Option<u32>,
    /// The dictionary of the last batch (kept, so that its address is not
    /// reused) and the group of each of its values ([`EMPTY`] for one no
    /// row used yet).
    dictionary: Option<(ArrayRef, Vec<u32>)>,
}

/// A string of at most 16 bytes and its group: bytes `0..8` and
/// `len - 8..len` as words (overlapping below 16 bytes; below 8 bytes, the
/// bytes and zeros), which with the length determine the string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ShortKey {
    words: [u64; 2],
    len: u32,
    group: u32,
}

impl ShortKey {
    /// The key of `bytes` (at most 16 of them), group to be set.
    #[inline(always)]
    fn of(bytes: &[u8]) -> ShortKey {
        let n = bytes.len();
        debug_assert!(n <= 16);
        let word = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap_or_default());
        let half = |at: usize| {
            u64::from(u32::from_le_bytes(
                bytes[at..at + 4].try_into().unwrap_or_default(),
            ))
        };
        let words = if n >= 8 {
            [word(0), word(n - 8)]
        } else if n >= 4 {
            [half(0) | half(n - 4) << 32, 0]
        } else {
            // 0 to 3 bytes: the first, middle and last (the same byte for
            // fewer than 3), told apart by the length.
            let byte = |at: usize| bytes.get(at).map_or(0, |&b| u64::from(b));
            [
                byte(0) | byte(n / 2) << 8 | byte(n.wrapping_sub(1)) << 16,
                0,
            ]
        };
        ShortKey {
            words,
            len: n as u32,
            group: 0,
        }
    }

    /// A hash of the string: a folded multiply of its words and length.
    #[inline(always)]
    fn hash(&self) -> u64 {
        const K0: u64 = 0x243f_6a88_85a3_08d3;
        const K1: u64 = 0x1319_8a2e_0370_7344;
        let a = (self.words[0] ^ K0) as u128 * (self.words[1] ^ K1 ^ u64::from(self.len)) as u128;
        let h = (a as u64) ^ ((a >> 64) as u64);
        // hashbrown takes its tag from the top bits: mix them down too.
        h ^ h.rotate_left(32).wrapping_mul(K0)
    }

    #[inline(always)]
    fn same(&self, other: &ShortKey) -> bool {
        self.words == other.words && self.len == other.len
    }
}

/// The values of a string column of any of the string types.
enum Strings<'a> {
    Utf8(&'a StringArray),
    Large(&'a LargeStringArray),
    View(&'a StringViewArray),
}

impl<'a> Strings<'a> {
    fn of(array: &'a dyn Array) -> Result<Self> {
        let any = array.as_any();
        if let Some(a) = any.downcast_ref::<StringArray>() {
            Ok(Strings::Utf8(a))
        } else if let Some(a) = any.downcast_ref::<LargeStringArray>() {
            Ok(Strings::Large(a))
        } else if let Some(a) = any.downcast_ref::<StringViewArray>() {
            Ok(Strings::View(a))
        } else {
            Err(Error::Internal(format!(
                "{} is no string column",
                array.data_type()
            )))
        }
    }

    /// Value `i`'s bytes; `None` if it is null.
    #[inline]
    fn get(&self, i: usize) -> Option<&'a [u8]> {
        match self {
            Strings::Utf8(a) => a.is_valid(i).then(|| a.value(i).as_bytes()),
            Strings::Large(a) => a.is_valid(i).then(|| a.value(i).as_bytes()),
            Strings::View(a) => a.is_valid(i).then(|| a.value(i).as_bytes()),
        }
    }
}

/// Whether `data_type` is a string type whose values key the groups
/// directly.
fn is_string(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
    )
}

/// The type of the strings of a key column of `data_type`, if it is one.
fn string_output(data_type: &DataType) -> Option<DataType> {
    match data_type {
        t if is_string(t) => Some(t.clone()),
        DataType::Dictionary(_, values) if is_string(values) => Some(values.as_ref().clone()),
        _ => None,
    }
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
        if let [data_type] = types {
            if let Some(output) = string_output(data_type) {
                return Ok(GroupKeys::Strings(StringKeys::new(
                    data_type.clone(),
                    output,
                )));
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
            GroupKeys::Strings(k) => {
                GroupKeys::Strings(StringKeys::new(k.data_type.clone(), k.output.clone()))
            }
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
            GroupKeys::Strings(k) => k.ends.len(),
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
        let one = || match columns {
            [column] => Ok(column.as_ref()),
            _ => Err(Error::Internal(format!(
                "one key column expected, got {}",
                columns.len()
            ))),
        };
        match self {
            GroupKeys::Integer(k) => k.intern(one()?, ids),
            GroupKeys::Strings(k) => k.intern(one()?, ids),
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
            (GroupKeys::Strings(a), GroupKeys::Strings(b)) => {
                for g in 0..b.ends.len() {
                    ids.push(a.group_of(b.key(g))?);
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
            GroupKeys::Strings(k) => {
                // `None` (the null key) after every string.
                order.sort_unstable_by(|&a, &b| {
                    let (a, b) = (k.key(a as usize), k.key(b as usize));
                    (a.is_none(), a).cmp(&(b.is_none(), b))
                })
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
            GroupKeys::Strings(k) => Ok(vec![k.column(order)?]),
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

/// Writes the group of each row of `values` from `from` on into `out`
/// (its row's place) while the row's key has one in the dense table `slots`
/// (of keys from `base`); returns the first row whose key is outside the
/// table or has no group yet (`values.len()` if none).
#[inline]
fn dense_run<K: Copy + Into<i128>>(
    values: &[K],
    from: usize,
    base: i128,
    slots: &[u32],
    out: &mut [u32],
) -> usize {
    let (len, rows) = (slots.len() as u128, values.len().min(out.len()));
    // The row's group, or `EMPTY` (a key outside the table included).
    let group = |x: K| -> u32 {
        let at = x.into().wrapping_sub(base) as u128;
        if at < len {
            slots[at as usize]
        } else {
            EMPTY
        }
    };
    if slots.len() > 1 << 18 {
        // Past the second-level cache, each slot is a miss: asked for 16
        // rows ahead.
        for i in from..rows {
            if let Some(&y) = values.get(i + 16) {
                let at = (y.into() - base) as usize;
                prefetch_line(slots.as_ptr().wrapping_add(at));
            }
            let g = group(values[i]);
            if g == EMPTY {
                return i;
            }
            out[i] = g;
        }
    } else {
        for i in from..rows {
            let g = group(values[i]);
            if g == EMPTY {
                return i;
            }
            out[i] = g;
        }
    }
    values.len()
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
                let values = array.values();
                let start = ids.len();
                ids.resize(start + values.len(), 0);
                let out = &mut ids[start..];
                let (mut i, mut covered) = (0, false);
                // Runs of rows whose keys have a group in the table; at a key
                // outside its range, the range of the rest of the batch is
                // covered at once (a vectorised pass, not a widening per key);
                // a new key makes its group.
                while let Some((base, slots)) = &keys.dense {
                    let stop = dense_run(values, i, *base, slots, out);
                    let Some(&x) = values.get(stop) else {
                        return Ok(());
                    };
                    let x: i128 = x.into();
                    let in_range = x >= *base && x - *base < slots.len() as i128;
                    if !in_range && !covered {
                        let rest = &values[stop..];
                        let lo = rest.iter().copied().min().map_or(x, Into::into);
                        let hi = rest.iter().copied().max().map_or(x, Into::into);
                        keys.cover(lo, hi);
                        covered = true;
                        i = stop;
                        continue;
                    }
                    out[stop] = keys.group_of(Some(x))?;
                    i = stop + 1;
                }
                // The keys moved to the hash table: the rest through it.
                for (&x, id) in values.iter().zip(out.iter_mut()).skip(i) {
                    *id = keys.group_of(Some(x.into()))?;
                }
                return Ok(());
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

impl StringKeys {
    fn new(data_type: DataType, output: DataType) -> Self {
        StringKeys {
            data_type,
            output,
            bytes: Vec::new(),
            ends: Vec::new(),
            short: HashTable::new(),
            table: HashTable::new(),
            hasher: FixedState::with_seed(0),
            null_group: None,
            dictionary: None,
        }
    }

    /// Group `g`'s string's bytes; `None` for the null group.
    fn key(&self, g: usize) -> Option<&[u8]> {
        if self.null_group == Some(g as u32) {
            return None;
        }
        let start = if g == 0 { 0 } else { self.ends[g - 1] };
        Some(&self.bytes[start..self.ends[g]])
    }

    #[inline]
    fn group_of(&mut self, key: Option<&[u8]>) -> Result<u32> {
        let Some(bytes) = key else {
            if let Some(g) = self.null_group {
                return Ok(g);
            }
            let g = next_group(self.ends.len())?;
            self.ends.push(self.bytes.len());
            self.null_group = Some(g);
            return Ok(g);
        };
        if bytes.len() <= 16 {
            return self.group_of_short(bytes);
        }
        let hash = self.hasher.hash_one(bytes);
        let (all, ends) = (&self.bytes, &self.ends);
        let found = self.table.find(hash, |&g| {
            let g = g as usize;
            let start = if g == 0 { 0 } else { ends[g - 1] };
            &all[start..ends[g]] == bytes
        });
        if let Some(&g) = found {
            return Ok(g);
        }
        let g = next_group(self.ends.len())?;
        self.bytes.extend_from_slice(bytes);
        self.ends.push(self.bytes.len());
        let (all, ends, hasher) = (&self.bytes, &self.ends, &self.hasher);
        self.table.insert_unique(hash, g, |&g| {
            let g = g as usize;
            let start = if g == 0 { 0 } else { ends[g - 1] };
            hasher.hash_one(&all[start..ends[g]])
        });
        Ok(g)
    }

    /// The group of a string of at most 16 bytes.
    #[inline(always)]
    fn group_of_short(&mut self, bytes: &[u8]) -> Result<u32> {
        let mut key = ShortKey::of(bytes);
        let hash = key.hash();
        if let Some(found) = self.short.find(hash, |k| k.same(&key)) {
            return Ok(found.group);
        }
        key.group = next_group(self.ends.len())?;
        self.bytes.extend_from_slice(bytes);
        self.ends.push(self.bytes.len());
        self.short.insert_unique(hash, key, ShortKey::hash);
        Ok(key.group)
    }

    fn intern(&mut self, column: &dyn Array, ids: &mut Vec<u32>) -> Result<()> {
        if column.data_type() != &self.data_type {
            return Err(Error::Internal(format!(
                "a string key of {} holds {}",
                self.data_type,
                column.data_type()
            )));
        }
        ids.reserve(column.len());
        macro_rules! dictionary {
            ($key:ty) => {
                self.intern_dictionary(column.as_dictionary::<$key>(), ids)
            };
        }
        match column.data_type() {
            DataType::Dictionary(key, _) => match key.as_ref() {
                DataType::Int8 => dictionary!(Int8Type),
                DataType::Int16 => dictionary!(Int16Type),
                DataType::Int32 => dictionary!(Int32Type),
                DataType::Int64 => dictionary!(Int64Type),
                DataType::UInt8 => dictionary!(UInt8Type),
                DataType::UInt16 => dictionary!(UInt16Type),
                DataType::UInt32 => dictionary!(UInt32Type),
                DataType::UInt64 => dictionary!(UInt64Type),
                other => Err(Error::Internal(format!("{other} is no dictionary key"))),
            },
            _ => match Strings::of(column)? {
                Strings::Utf8(a) => {
                    self.intern_offsets(a.value_offsets(), a.value_data(), a.nulls(), ids)
                }
                Strings::Large(a) => {
                    self.intern_offsets(a.value_offsets(), a.value_data(), a.nulls(), ids)
                }
                strings => {
                    for i in 0..column.len() {
                        ids.push(self.group_of(strings.get(i))?);
                    }
                    Ok(())
                }
            },
        }
    }

    /// The groups of the strings of a utf8 or large_utf8 column, given as
    /// its offsets, bytes and nulls.
    fn intern_offsets<O: ArrowNativeType>(
        &mut self,
        offsets: &[O],
        data: &[u8],
        nulls: Option<&NullBuffer>,
        ids: &mut Vec<u32>,
    ) -> Result<()> {
        let nulls = nulls.filter(|n| n.null_count() > 0);
        for (i, ends) in offsets.windows(2).enumerate() {
            if nulls.is_some_and(|n| n.is_null(i)) {
                ids.push(self.group_of(None)?);
                continue;
            }
            let bytes = data
                .get(ends[0].as_usize()..ends[1].as_usize())
                .ok_or_else(|| {
                    Error::Internal(format!("string {i} lies outside its column's bytes"))
                })?;
            ids.push(self.group_of(Some(bytes))?);
        }
        Ok(())
    }

    /// The groups of a dictionary of strings: each dictionary value is
    /// looked up when a row first uses it (unused values make no group),
    /// then every row by its index. The lookups are kept while batches share
    /// one dictionary (slices of one array, an IPC file's batches).
    fn intern_dictionary<K: ArrowDictionaryKeyType>(
        &mut self,
        array: &DictionaryArray<K>,
        ids: &mut Vec<u32>,
    ) -> Result<()> {
        let values = array.values();
        let mut cache = match self.dictionary.take() {
            Some((kept, groups)) if Arc::ptr_eq(&kept, values) => (kept, groups),
            _ => (Arc::clone(values), vec![EMPTY; values.len()]),
        };
        let result = (|| {
            let strings = Strings::of(values.as_ref())?;
            let value_groups = &mut cache.1;
            let nulls = array.logical_nulls().filter(|n| n.null_count() > 0);
            for (i, key) in array.keys().values().iter().enumerate() {
                if nulls.as_ref().is_some_and(|n| n.is_null(i)) {
                    ids.push(self.group_of(None)?);
                    continue;
                }
                let Some(index) = key.to_usize().filter(|&k| k < value_groups.len()) else {
                    return Err(Error::Internal(format!(
                        "a dictionary key {key:?} out of {} values",
                        value_groups.len()
                    )));
                };
                if value_groups[index] == EMPTY {
                    value_groups[index] = self.group_of(strings.get(index))?;
                }
                ids.push(value_groups[index]);
            }
            Ok(())
        })();
        self.dictionary = Some(cache);
        result
    }

    /// The key column of the groups `order`.
    fn column(&self, order: &[u32]) -> Result<ArrayRef> {
        let strings = order
            .iter()
            .map(|&g| {
                self.key(g as usize)
                    .map(|b| {
                        std::str::from_utf8(b)
                            .map_err(|e| Error::Internal(format!("a string key is not UTF-8: {e}")))
                    })
                    .transpose()
            })
            .collect::<Result<Vec<Option<&str>>>>()?;
        Ok(match &self.output {
            DataType::LargeUtf8 => Arc::new(LargeStringArray::from(strings)),
            DataType::Utf8View => Arc::new(StringViewArray::from(strings)),
            _ => Arc::new(StringArray::from(strings)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn short_keys_tell_apart_strings_that_differ_in_any_byte_or_length() {
        for n in 0..=16usize {
            let base: Vec<u8> = (0..n as u8).map(|b| b'a' + b).collect();
            let key = ShortKey::of(&base);
            assert!(key.same(&ShortKey::of(&base.clone())));
            for at in 0..n {
                let mut other = base.clone();
                other[at] ^= 0x20;
                assert!(!key.same(&ShortKey::of(&other)), "{n} bytes, byte {at}");
            }
            // A string one byte longer or shorter, padded with zeros.
            let mut longer = base.clone();
            longer.push(0);
            assert!(!key.same(&ShortKey::of(&longer[..(n + 1).min(16)])) || n == 16);
            if n > 0 {
                assert!(!key.same(&ShortKey::of(&base[..n - 1])));
            }
        }
    }

    #[test]
    fn string_keys_of_every_length_group_like_a_map() {
        // Strings of 0 to 24 bytes over a 3-letter alphabet, with zero
        // bytes: many share words, prefixes and suffixes.
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let strings: Vec<String> = (0..20_000)
            .map(|_| {
                let len = (next() % 25) as usize;
                (0..len)
                    .map(|_| ['a', 'b', '\0'][(next() % 3) as usize])
                    .collect()
            })
            .collect();
        let column =
            StringArray::from(strings.iter().map(|s| Some(s.as_str())).collect::<Vec<_>>());
        let mut keys = StringKeys::new(DataType::Utf8, DataType::Utf8);
        let mut ids = Vec::new();
        keys.intern(&column, &mut ids).unwrap();
        let mut seen: HashMap<&str, u32> = HashMap::new();
        for (s, &g) in strings.iter().zip(&ids) {
            assert_eq!(*seen.entry(s.as_str()).or_insert(g), g, "{s:?}");
            assert_eq!(keys.key(g as usize), Some(s.as_bytes()));
        }
        assert_eq!(seen.len(), keys.ends.len());
    }
}
