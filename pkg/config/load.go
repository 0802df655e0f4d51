package config

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"strconv"
	"strings"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/viper"
)

// Load reads binary C's configuration and validates it. The file is
// WALLET_CONFIG if set, else ./config.yaml if it exists; a missing default
// file is not an error. Sections C does not name are neither decoded nor
// checked.
func Load[C Service]() (C, error) {
	var c C
	v := viper.New()
	setDefaults(v)
	v.SetEnvPrefix("WALLET")
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_"))
	v.AutomaticEnv()

	path, explicit := os.LookupEnv("WALLET_CONFIG")
	if !explicit {
		path = "config.yaml"
	}
	v.SetConfigFile(path)
	if err := v.ReadInConfig(); err != nil {
		if explicit || !errors.Is(err, os.ErrNotExist) {
			return c, fmt.Errorf("read %s: %w", path, err)
		}
	}
	if err := decode(v, &c); err != nil {
		return c, err
	}
	if err := c.Validate(); err != nil {
		return c, err
	}
	return c, nil
}

// Defaults returns binary C's configuration with every setting at its
// default, as Load gives it without a file or environment. Tests start
// from it rather than keep their own copies of the defaults.
func Defaults[C Service]() C {
	var c C
	v := viper.New()
	setDefaults(v)
	if err := decode(v, &c); err != nil {
		panic(fmt.Sprintf("config: the defaults do not decode: %v", err)) // a bug in setDefaults, caught by its tests
	}
	return c
}

func decode[C Service](v *viper.Viper, c *C) error {
	hook := mapstructure.ComposeDecodeHookFunc(
		mapstructure.StringToTimeDurationHookFunc(),
		stringToList,
		stringToInts,
		expandShards,
	)
	if err := v.Unmarshal(c, viper.DecodeHook(hook)); err != nil {
		return fmt.Errorf("decode config: %w", err)
	}
	return nil
}

// stringToList splits a comma-separated string, as an environment variable
// gives a list, into any list of strings: Shards too, which
// mapstructure.StringToSliceHookFunc would leave whole, as it converts to
// []string only.
func stringToList(from, to reflect.Type, data any) (any, error) {
	if from.Kind() != reflect.String || to.Kind() != reflect.Slice || to.Elem().Kind() != reflect.String {
		return data, nil
	}
	if data.(string) == "" {
		return []string{}, nil
	}
	return strings.Split(data.(string), ","), nil
}

// stringToInts splits a comma-separated string, as an environment variable
// gives a list, into a list of ints (account.saga_partitions).
func stringToInts(from, to reflect.Type, data any) (any, error) {
	if from.Kind() != reflect.String || to.Kind() != reflect.Slice || to.Elem().Kind() != reflect.Int {
		return data, nil
	}
	out := []int{}
	for _, f := range strings.Split(data.(string), ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil {
			return nil, fmt.Errorf("%q is not a list of numbers: %w", data, err)
		}
		out = append(out, n)
	}
	return out, nil
}
