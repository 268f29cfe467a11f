package dnssvc

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/slipway/slipway/store"
)

const (
	zoneColumns   = "id, project_id, name, comment, settings, managed_by, created_at"
	recordColumns = "id, project_id, zone_id, name, type, ttl, record_values, alias, settings, managed_by, created_at"
)

func queryZones(ctx context.Context, q store.Querier, where string, args ...any) ([]HostedZone, error) {
	rows, err := q.QueryContext(ctx, "SELECT "+zoneColumns+
		", (SELECT COUNT(*) FROM record_sets r WHERE r.zone_id = hosted_zones.id) FROM hosted_zones"+where+" ORDER BY name", args...)
	if err != nil {
		return nil, fmt.Errorf("hosted zones: %w", err)
	}
	defer rows.Close()
	var out []HostedZone
	for rows.Next() {
		var z HostedZone
		var settings string
		var created int64
		if err := rows.Scan(&z.ID, &z.ProjectID, &z.Name, &z.Comment, &settings, &z.ManagedBy, &created, &z.RecordSetCount); err != nil {
			return nil, fmt.Errorf("hosted zones: %w", err)
		}
		if err := decode(settings, &z.Settings); err != nil {
			return nil, fmt.Errorf("hosted zone %s: %w", z.Name, err)
		}
		z.NameServers, z.CreatedAt = []string{NameServer}, store.Time(created)
		out = append(out, z)
	}
	return out, rows.Err()
}

func queryRecordSets(ctx context.Context, q store.Querier, where string, args ...any) ([]RecordSet, error) {
	rows, err := q.QueryContext(ctx, "SELECT "+recordColumns+" FROM record_sets"+where+" ORDER BY zone_id, name, type", args...)
	if err != nil {
		return nil, fmt.Errorf("record sets: %w", err)
	}
	defer rows.Close()
	var out []RecordSet
	for rows.Next() {
		var rs RecordSet
		var values, alias, settings string
		var created int64
		if err := rows.Scan(&rs.ID, &rs.ProjectID, &rs.ZoneID, &rs.Name, &rs.Type, &rs.TTL, &values, &alias, &settings, &rs.ManagedBy, &created); err != nil {
			return nil, fmt.Errorf("record sets: %w", err)
		}
		if err := decode(values, &rs.Values); err != nil {
			return nil, fmt.Errorf("record set %s: %w", rs.Name, err)
		}
		if alias != "" {
			rs.Alias = &AliasTarget{}
			if err := decode(alias, rs.Alias); err != nil {
				return nil, fmt.Errorf("record set %s: %w", rs.Name, err)
			}
		}
		if err := decode(settings, &rs.Settings); err != nil {
			return nil, fmt.Errorf("record set %s: %w", rs.Name, err)
		}
		rs.CreatedAt = store.Time(created)
		out = append(out, rs)
	}
	return out, rows.Err()
}

// first returns the first row, or store.ErrNotFound.
func first[T any](rows []T, err error) (*T, error) {
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, store.ErrNotFound
	}
	return &rows[0], nil
}

// Zones returns a project's hosted zones by name.
func (s *Service) Zones(ctx context.Context, projectID string) ([]HostedZone, error) {
	return queryZones(ctx, s.db, " WHERE project_id = ?", projectID)
}

// Zone returns the project's hosted zone with that ID ("Z...", or
// "/hostedzone/Z..." as Route 53 spells it) or name (final dot optional),
// or an error wrapping store.ErrNotFound.
func (s *Service) Zone(ctx context.Context, projectID, idOrName string) (*HostedZone, error) {
	return s.zone(ctx, s.db, projectID, idOrName)
}

func (s *Service) zone(ctx context.Context, q store.Querier, projectID, idOrName string) (*HostedZone, error) {
	id := strings.TrimPrefix(idOrName, "/hostedzone/")
	name := strings.ToLower(strings.TrimSuffix(idOrName, ".")) + "."
	z, err := first(queryZones(ctx, q, " WHERE project_id = ? AND (id = ? OR name = ?)", projectID, id, name))
	if err != nil {
		return nil, fmt.Errorf("NoSuchHostedZone: hosted zone %s: %w", idOrName, err)
	}
	return z, nil
}

// ZoneManaged returns the project's hosted zone made under token, or an
// error wrapping store.ErrNotFound.
func (s *Service) ZoneManaged(ctx context.Context, projectID, token string) (*HostedZone, error) {
	if token == "" {
		return nil, store.ErrNotFound
	}
	return first(queryZones(ctx, s.db, " WHERE project_id = ? AND managed_by = ?", projectID, token))
}

// CreateZone makes a hosted zone. A zone name is unique on the server (its
// DNS server answers for one zone of a name): a taken one is an error
// wrapping store.ErrConflict, unless the zone is the project's and was
// made under the same non-empty managedBy (a resumed create), which
// returns it.
func (s *Service) CreateZone(ctx context.Context, projectID, managedBy string, in ZoneInput) (*HostedZone, error) {
	name, err := normalizeZoneName(in.Name)
	if err != nil {
		return nil, err
	}
	settings, err := encode(in.Settings)
	if err != nil {
		return nil, fmt.Errorf("hosted zone %s: settings %w", name, err)
	}
	var out *HostedZone
	err = s.mutate(ctx, func(tx *store.Tx) error {
		old, err := first(queryZones(ctx, tx, " WHERE name = ?", name))
		if err == nil {
			if managedBy != "" && old.ManagedBy == managedBy && old.ProjectID == projectID {
				out = old
				return nil
			}
			return fmt.Errorf("HostedZoneAlreadyExists: a hosted zone named %s %w on this server: its DNS server answers for one zone of a name; choose another Name, or use that zone",
				name, store.ErrConflict)
		}
		if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		id := zoneID(managedBy)
		if _, err := tx.ExecContext(ctx, "INSERT INTO hosted_zones ("+zoneColumns+") VALUES (?, ?, ?, ?, ?, ?, ?)",
			id, projectID, name, in.Comment, settings, managedBy, store.Millis(time.Now())); err != nil {
			return fmt.Errorf("create hosted zone %s: %w", name, err)
		}
		out, err = first(queryZones(ctx, tx, " WHERE id = ?", id))
		return err
	})
	return out, err
}

// UpdateZone changes a hosted zone's comment and recorded settings.
func (s *Service) UpdateZone(ctx context.Context, projectID, id string, in ZoneInput) (*HostedZone, error) {
	settings, err := encode(in.Settings)
	if err != nil {
		return nil, fmt.Errorf("hosted zone settings %w", err)
	}
	var out *HostedZone
	err = s.mutate(ctx, func(tx *store.Tx) error {
		z, err := s.zone(ctx, tx, projectID, id)
		if err != nil {
			return err
		}
		if name, err := normalizeZoneName(in.Name); in.Name != "" && (err != nil || name != z.Name) {
			return fmt.Errorf("hosted zone %s: its Name cannot change in place; it needs a new zone", z.Name)
		}
		if _, err := tx.ExecContext(ctx, "UPDATE hosted_zones SET comment = ?, settings = ? WHERE id = ?", in.Comment, settings, z.ID); err != nil {
			return fmt.Errorf("update hosted zone %s: %w", z.Name, err)
		}
		out, err = first(queryZones(ctx, tx, " WHERE id = ?", z.ID))
		return err
	})
	return out, err
}

// DeleteZone deletes an empty hosted zone; one with record sets is
// refused, as Route 53 does. An absent one is not an error.
func (s *Service) DeleteZone(ctx context.Context, projectID, id string) error {
	return s.mutate(ctx, func(tx *store.Tx) error {
		z, err := s.zone(ctx, tx, projectID, id)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if z.RecordSetCount > 0 {
			return fmt.Errorf("HostedZoneNotEmpty: The specified hosted zone contains non-required resource record sets and so cannot be deleted (%s has %d)",
				z.Name, z.RecordSetCount)
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM hosted_zones WHERE id = ?", z.ID); err != nil {
			return fmt.Errorf("delete hosted zone %s: %w", z.Name, err)
		}
		return nil
	})
}

// RecordSets returns the record sets of a project's zone by name and type.
func (s *Service) RecordSets(ctx context.Context, projectID, zoneID string) ([]RecordSet, error) {
	z, err := s.Zone(ctx, projectID, zoneID)
	if err != nil {
		return nil, err
	}
	return queryRecordSets(ctx, s.db, " WHERE zone_id = ?", z.ID)
}

// RecordSet returns the project's record set with that ID.
func (s *Service) RecordSet(ctx context.Context, projectID, id string) (*RecordSet, error) {
	rs, err := first(queryRecordSets(ctx, s.db, " WHERE project_id = ? AND id = ?", projectID, id))
	if err != nil {
		return nil, fmt.Errorf("record set %s: %w", id, err)
	}
	return rs, nil
}

// RecordSetManaged returns the project's record set made under token, or
// an error wrapping store.ErrNotFound.
func (s *Service) RecordSetManaged(ctx context.Context, projectID, token string) (*RecordSet, error) {
	if token == "" {
		return nil, store.ErrNotFound
	}
	return first(queryRecordSets(ctx, s.db, " WHERE project_id = ? AND managed_by = ?", projectID, token))
}

// recordZone finds the zone a record set input names.
func (s *Service) recordZone(ctx context.Context, q store.Querier, projectID string, in RecordSetInput) (*HostedZone, error) {
	switch {
	case in.ZoneID != "":
		z, err := s.zone(ctx, q, projectID, in.ZoneID)
		if err == nil && in.ZoneName != "" && strings.TrimSuffix(strings.ToLower(in.ZoneName), ".")+"." != z.Name {
			return nil, fmt.Errorf("InvalidInput: HostedZoneId %s is zone %s, not HostedZoneName %s", in.ZoneID, z.Name, in.ZoneName)
		}
		return z, err
	case in.ZoneName != "":
		return s.zone(ctx, q, projectID, strings.TrimSuffix(in.ZoneName, ".")+".")
	}
	return nil, errors.New("InvalidInput: give the record set's zone: HostedZoneId or HostedZoneName")
}

// checkAlias refuses an alias whose target is no load balancer.
func (s *Service) checkAlias(in RecordSetInput, name string) error {
	if in.Alias == nil || s.cfg.AliasAddrs == nil {
		return nil
	}
	if _, ok := s.cfg.AliasAddrs(in.Alias.DNSName); !ok {
		return fmt.Errorf("InvalidChangeBatch: [Tried to create an alias that targets %s., type %s in zone %s, but the alias target name does not lie within the target zone] (alias targets here are load balancers' DNSName, NAME.lb.localhost)",
			strings.TrimSuffix(in.Alias.DNSName, "."), in.Type, name)
	}
	return nil
}

// CreateRecordSet adds a record set to a project's zone. A name and type
// the zone has already is an error wrapping store.ErrConflict, unless it is
// the project's record set made under the same non-empty managedBy (a
// resumed create), which returns it.
func (s *Service) CreateRecordSet(ctx context.Context, projectID, managedBy string, in RecordSetInput) (*RecordSet, error) {
	var out *RecordSet
	err := s.mutate(ctx, func(tx *store.Tx) error {
		z, err := s.recordZone(ctx, tx, projectID, in)
		if err != nil {
			return err
		}
		name, err := in.normalize(z.Name)
		if err != nil {
			return err
		}
		old, err := first(queryRecordSets(ctx, tx, " WHERE zone_id = ? AND name = ? AND type = ?", z.ID, name, in.Type))
		if err == nil {
			if managedBy != "" && old.ManagedBy == managedBy && old.ProjectID == projectID {
				out = old
				return nil
			}
			return fmt.Errorf("InvalidChangeBatch: [Tried to create resource record set [name='%s', type='%s'] but it %w]", name, in.Type, store.ErrConflict)
		}
		if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if err := s.checkAlias(in, z.Name); err != nil {
			return err
		}
		id := recordID(managedBy)
		values, alias, settings, err := columns(in)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO record_sets ("+recordColumns+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
			id, projectID, z.ID, name, in.Type, in.TTL, values, alias, settings, managedBy, store.Millis(time.Now())); err != nil {
			return fmt.Errorf("create record set %s %s: %w", name, in.Type, err)
		}
		out, err = first(queryRecordSets(ctx, tx, " WHERE id = ?", id))
		return err
	})
	return out, err
}

// columns encodes a record set input's JSON columns.
func columns(in RecordSetInput) (values, alias, settings string, err error) {
	if in.Values == nil {
		in.Values = []string{}
	}
	if values, err = encode(in.Values); err != nil {
		return
	}
	if in.Alias != nil {
		if alias, err = encode(in.Alias); err != nil {
			return
		}
	}
	settings, err = encode(in.Settings)
	return
}

// UpdateRecordSet changes a record set's type, TTL, values or alias and
// settings; its zone and name cannot change.
func (s *Service) UpdateRecordSet(ctx context.Context, projectID, id string, in RecordSetInput) (*RecordSet, error) {
	var out *RecordSet
	err := s.mutate(ctx, func(tx *store.Tx) error {
		old, err := first(queryRecordSets(ctx, tx, " WHERE project_id = ? AND id = ?", projectID, id))
		if err != nil {
			return fmt.Errorf("record set %s: %w", id, err)
		}
		z, err := s.recordZone(ctx, tx, projectID, in)
		if err != nil {
			return err
		}
		name, err := in.normalize(z.Name)
		if err != nil {
			return err
		}
		if z.ID != old.ZoneID || name != old.Name {
			return fmt.Errorf("record set %s: its zone and Name cannot change in place; it needs a new record set", old.Name)
		}
		if in.Type != old.Type {
			taken, err := first(queryRecordSets(ctx, tx, " WHERE zone_id = ? AND name = ? AND type = ?", z.ID, name, in.Type))
			if err == nil && taken.ID != id {
				return fmt.Errorf("InvalidChangeBatch: [Tried to create resource record set [name='%s', type='%s'] but it %w]", name, in.Type, store.ErrConflict)
			}
		}
		if err := s.checkAlias(in, z.Name); err != nil {
			return err
		}
		values, alias, settings, err := columns(in)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "UPDATE record_sets SET type = ?, ttl = ?, record_values = ?, alias = ?, settings = ? WHERE id = ?",
			in.Type, in.TTL, values, alias, settings, id); err != nil {
			return fmt.Errorf("update record set %s: %w", name, err)
		}
		out, err = first(queryRecordSets(ctx, tx, " WHERE id = ?", id))
		return err
	})
	return out, err
}

// DeleteRecordSet deletes a record set; an absent one is not an error.
func (s *Service) DeleteRecordSet(ctx context.Context, projectID, id string) error {
	return s.mutate(ctx, func(tx *store.Tx) error {
		if _, err := tx.ExecContext(ctx, "DELETE FROM record_sets WHERE project_id = ? AND id = ?", projectID, id); err != nil {
			return fmt.Errorf("delete record set %s: %w", id, err)
		}
		return nil
	})
}
